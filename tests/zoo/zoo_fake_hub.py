"""A tiny in-process fake of the Hugging Face Hub HTTP API, for tests (binds 127.0.0.1 only).

It answers what huggingface_hub 2.x sends for downloads and uploads:

* ``HEAD/GET /{repo}/resolve/{revision}/{filename}`` with ``X-Repo-Commit``, ``ETag``,
  ``Content-Length`` (and ``X-Error-Code`` on 404s: ``RepoNotFound``, ``RevisionNotFound``,
  ``EntryNotFound``);
* ``GET /api/models/{repo}[/revision/{revision}]`` (model info with ``sha`` and ``siblings``);
* ``POST /api/repos/create``, ``POST /api/validate-yaml``,
  ``POST /api/models/{repo}/preupload/{revision}`` (every file "regular") and
  ``POST /api/models/{repo}/commit/{revision}`` (ndjson with base64 file contents).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


class FakeHub:
    def __init__(self):
        self.repos: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.corrupt: dict[tuple[str, str], bytes] = {}  # (repo_id, filename) -> bytes served instead
        self.created: list[dict] = []
        self._lock = threading.Lock()
        self._counter = 0
        self._server = None
        self._thread = None

    # ------------------------------------------------------------------ content
    def create_repo(self, repo_id: str, private: bool = False) -> None:
        self.repos.setdefault(repo_id, {"refs": {}, "commits": {}, "private": private})

    def commit(self, repo_id: str, files: dict[str, bytes], branch: str = "main") -> str:
        self.create_repo(repo_id)
        repo = self.repos[repo_id]
        with self._lock:
            self._counter += 1
            parent = repo["refs"].get(branch)
            content = dict(repo["commits"][parent]) if parent else {}
            content.update(files)
            sha = hashlib.sha1(f"{repo_id}:{self._counter}:{sorted(content)}".encode()).hexdigest()
            repo["commits"][sha] = content
            repo["refs"][branch] = sha
        return sha

    def upload_folder(self, repo_id: str, folder, branch: str = "main", skip=()) -> str:
        files = {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.is_file() and p.name not in skip}
        return self.commit(repo_id, files, branch)

    def resolve(self, repo_id: str, revision: str):
        repo = self.repos.get(repo_id)
        if repo is None:
            return None, None
        if revision in repo["refs"]:
            return repo, repo["refs"][revision]
        if revision in repo["commits"]:
            return repo, revision
        return repo, None

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo, sha = self.resolve(repo_id, revision)
        return dict(repo["commits"][sha]) if sha else {}

    def paths_requested(self, method: str | None = None) -> list[str]:
        return [p for m, p in self.requests if method is None or m == method]

    # ------------------------------------------------------------------ server
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeHub":
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: no lingering threads

            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status, body=b"", headers=None, head=False):
                self.send_response(status)
                headers = dict(headers or {})
                headers.setdefault("Content-Type", "application/json")
                headers["Content-Length"] = str(len(body))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if not head and body:
                    self.wfile.write(body)

            def _json(self, status, data, headers=None):
                self._send(status, json.dumps(data).encode(), headers)

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _resolve_file(self, head: bool):
                raw = urlsplit(self.path).path
                parts = raw.strip("/").split("/")
                if "resolve" not in parts:
                    return self._json(404, {"error": "not found"})
                i = parts.index("resolve")
                repo_id = "/".join(unquote(p) for p in parts[:i])
                revision = unquote(parts[i + 1])
                filename = "/".join(unquote(p) for p in parts[i + 2 :])
                repo, sha = hub.resolve(repo_id, revision)
                if repo is None:
                    return self._json(401, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                if sha is None:
                    return self._json(404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"})
                content = repo["commits"][sha].get(filename)
                if content is None:
                    return self._json(
                        404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": sha}
                    )
                content = hub.corrupt.get((repo_id, filename), content)
                etag = hashlib.sha256(content).hexdigest()
                self._send(
                    200,
                    content,
                    {
                        "Content-Type": "application/octet-stream",
                        "ETag": f'"{etag}"',
                        "X-Repo-Commit": sha,
                        "Accept-Ranges": "bytes",
                    },
                    head=head,
                )

            def do_HEAD(self):
                hub.requests.append(("HEAD", self.path))
                self._resolve_file(head=True)

            def do_GET(self):
                hub.requests.append(("GET", self.path))
                path = unquote(urlsplit(self.path).path)
                if path.startswith("/api/models/"):
                    rest = path[len("/api/models/") :]
                    repo_id, _, revision = rest.partition("/revision/")
                    repo, sha = hub.resolve(repo_id, revision or "main")
                    if repo is None:
                        return self._json(401, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    if sha is None:
                        return self._json(404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"})
                    return self._json(
                        200,
                        {
                            "id": repo_id,
                            "modelId": repo_id,
                            "sha": sha,
                            "private": repo["private"],
                            "siblings": [{"rfilename": f} for f in sorted(repo["commits"][sha])],
                        },
                    )
                self._resolve_file(head=False)

            def do_POST(self):
                hub.requests.append(("POST", self.path))
                path = unquote(urlsplit(self.path).path)
                body = self._body()
                if path == "/api/repos/create":
                    data = json.loads(body or b"{}")
                    hub.created.append(data)
                    repo_id = f"{data['organization']}/{data['name']}" if data.get("organization") else data["name"]
                    if repo_id in hub.repos:
                        return self._json(409, {"error": "You already created this model repo", "url": f"{hub.url}/{repo_id}"})
                    hub.create_repo(repo_id, private=data.get("visibility") == "private" or bool(data.get("private")))
                    return self._json(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})
                if path == "/api/validate-yaml":
                    import yaml

                    content = json.loads(body)["content"]
                    lines = content.splitlines()
                    errors = []
                    if lines and lines[0].strip() == "---":
                        end = next((i for i in range(1, len(lines)) if lines[i].strip() == "---"), None)
                        try:
                            meta = yaml.safe_load("\n".join(lines[1:end])) if end else None
                            if not isinstance(meta, dict):
                                errors.append({"message": "front matter is not a mapping"})
                        except yaml.YAMLError as err:
                            errors.append({"message": str(err)})
                    if errors:
                        return self._json(400, {"errors": errors})
                    return self._json(200, {"errors": [], "warnings": []})
                if path.startswith("/api/models/") and "/preupload/" in path:
                    files = json.loads(body)["files"]
                    return self._json(
                        200,
                        {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False, "oid": None} for f in files]},
                    )
                if path.startswith("/api/models/") and "/commit/" in path:
                    repo_id, _, revision = path[len("/api/models/") :].partition("/commit/")
                    if repo_id not in hub.repos:
                        return self._json(401, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                    files = {}
                    for line in body.splitlines():
                        item = json.loads(line)
                        if item["key"] == "file":
                            files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                        elif item["key"] != "header":
                            return self._json(400, {"error": f"unsupported operation {item['key']}"})
                    sha = hub.commit(repo_id, files, branch=revision or "main")
                    return self._json(
                        200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{sha}", "commitOid": sha, "pullRequestUrl": None}
                    )
                return self._json(404, {"error": f"no route for POST {path}"})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
