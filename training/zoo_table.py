"""The zoo's table in Markdown, from the registry (the cards in ``zoo/``):
``python -m training.zoo_table [--readme [README.md]]``.

One row per registered model: its name, architecture, training data, T, trainable parameters,
the held-out accuracy its card states, whether weights exist and the line that loads it. The
documentation's zoo page renders it at build time; ``--readme`` replaces the block between the
``zoo-table`` markers of the README (tests/test_docs.py keeps the two in step).

>>> from training import zoo_table
>>> lines = zoo_table.table().splitlines()
>>> lines[0]
'| model | architecture | data | T | parameters | accuracy | weights | load |'
>>> [l for l in lines if "smlp-basicmotions-t20" in l][0].split(" | ")[6:]
['shipped (offline)', '`zoo.load("smlp-basicmotions-t20")` |']
"""

import argparse
from pathlib import Path

BEGIN, END = "<!-- zoo-table:begin -->", "<!-- zoo-table:end -->"
WEIGHTS = {"local": "shipped (offline)", "hub": "Hugging Face Hub", "none": "none yet (architecture only)"}


def _params(n):
    return f"{n:,}" if isinstance(n, int) else "–"


def _accuracy(acc):
    return "–" if acc is None else f"{acc * 100:.2f} %"


def table():
    from keras_trt import zoo

    lines = ["| model | architecture | data | T | parameters | accuracy | weights | load |",
             "|---|---|---|---:|---:|---:|---|---|"]
    for row in zoo.list():
        load = (f'zoo.load("{row["name"]}")' if row["weights"] != "none"
                else f'zoo.load("{row["name"]}", weights=False)')
        lines.append(f"| `{row['name']}` | `{row['architecture']}` | {row['dataset']} | {row['timesteps']} | "
                     f"{_params(row['parameters'])} | {_accuracy(row['accuracy'])} | "
                     f"{WEIGHTS.get(row['weights'], row['weights'])} | `{load}` |")
    return "\n".join(lines)


def main(argv=None):
    from training.results_table import replace_block

    parser = argparse.ArgumentParser(prog="python -m training.zoo_table", description=__doc__.splitlines()[0])
    parser.add_argument("--readme", nargs="?", const="README.md", default=None,
                        help="rewrite the zoo table in this README (default README.md)")
    args = parser.parse_args(argv)
    block = table()
    print(block)
    if args.readme:
        path = Path(args.readme)
        try:
            text = replace_block(path.read_text(), block, BEGIN, END)
        except ValueError as e:
            raise SystemExit(f"{path}: {e} Add the two marker lines where the table belongs; "
                             f"{path} is unchanged.") from None
        path.write_text(text)
        print(f"updated the zoo table in {path}")
    return block


if __name__ == "__main__":
    main()
