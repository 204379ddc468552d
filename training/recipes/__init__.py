"""One module per zoo entry, each defining ``RECIPE`` (a ``training.recipe.Recipe``)."""
