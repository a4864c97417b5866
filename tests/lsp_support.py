"""A small Language Server Protocol client over stdio, to drive the real yaml-language-server.

The server comes from npm (``scripts/setup.sh`` installs it into ``.cache/npm``). Tests that
need it call :func:`yaml_language_server`, which skips when it is missing, except in CI (``CI``
set), where a missing server is a failure: CI must exercise the editor path.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: where scripts/setup.sh installs the server (``npm install --prefix .cache/npm``)
NPM_BIN = ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "yaml-language-server"
#: how long one request may take before the test fails (the server answers in milliseconds)
TIMEOUT = 60.0


def yaml_language_server() -> list[str]:
    """The command starting yaml-language-server on stdio, or skip (fail in CI) when absent."""
    override = os.environ.get("LAYERKIT_YAML_LANGUAGE_SERVER")
    found = override or (str(NPM_BIN) if NPM_BIN.exists() else shutil.which("yaml-language-server"))
    node = shutil.which("node")
    if found and node:
        return [found, "--stdio"]
    why = "yaml-language-server is not installed (scripts/setup.sh installs it with npm)"
    if os.environ.get("CI"):
        pytest.fail(f"{why}; CI must run the editor tests")
    pytest.skip(why)


class LspError(AssertionError):
    """The server answered a request with an error, or did not answer in time."""


class LspClient:
    """Requests, notifications and published diagnostics of one language-server process."""

    def __init__(self, command: list[str], root: Path, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=root,
        )
        self._next_id = 0
        self._responses: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._diagnostics: dict[str, list[dict[str, Any]]] = {}
        self._diag_event = threading.Condition()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri(),
                "capabilities": {
                    "workspace": {"configuration": True},
                    "textDocument": {
                        "publishDiagnostics": {},
                        "hover": {"contentFormat": ["markdown", "plaintext"]},
                        "completion": {
                            "completionItem": {"documentationFormat": ["markdown", "plaintext"]}
                        },
                    },
                },
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
            },
        )
        self.notify("initialized", {})
        self.notify("workspace/didChangeConfiguration", {"settings": settings})

    # -- wire ---------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read_loop(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = 0
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            self._dispatch(json.loads(out.read(length)))

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message and "method" in message:  # a request from the server
            self._send(
                {
                    "id": message["id"],
                    "result": self._answer(message["method"], message.get("params")),
                }
            )
        elif "id" in message:
            with self._lock:
                box = self._responses.get(message["id"])
            if box is not None:
                box.put(message)
        elif message.get("method") == "textDocument/publishDiagnostics":
            with self._diag_event:
                self._diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
                self._diag_event.notify_all()

    def _answer(self, method: str, params: Any) -> Any:
        if method == "workspace/configuration":
            return [self.settings.get(item.get("section", ""), None) for item in params["items"]]
        return None  # client/registerCapability, window/workDoneProgress/create, ...

    # -- API ----------------------------------------------------------------------------

    def request(self, method: str, params: Any) -> Any:
        with self._lock:
            self._next_id += 1
            ident = self._next_id
            box: queue.Queue[dict[str, Any]] = queue.Queue()
            self._responses[ident] = box
        self._send({"id": ident, "method": method, "params": params})
        try:
            answer = box.get(timeout=TIMEOUT)
        except queue.Empty:
            raise LspError(f"{method}: no answer within {TIMEOUT:.0f} s") from None
        if "error" in answer:
            raise LspError(f"{method}: {answer['error']}")
        return answer.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def open(self, path: Path, text: str) -> str:
        """Open ``text`` as the document at ``path``; its URI."""
        uri = path.resolve().as_uri()
        with self._diag_event:
            self._diagnostics.pop(uri, None)
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}},
        )
        return uri

    def diagnostics(self, uri: str) -> list[dict[str, Any]]:
        """The diagnostics the server publishes for ``uri`` after it was opened."""
        deadline = time.monotonic() + TIMEOUT
        with self._diag_event:
            while uri not in self._diagnostics:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LspError(f"no diagnostics published for {uri} within {TIMEOUT:.0f} s")
                self._diag_event.wait(left)
            return self._diagnostics[uri]

    def completion(self, uri: str, line: int, character: int) -> list[dict[str, Any]]:
        result = self.request(
            "textDocument/completion",
            {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
        )
        if isinstance(result, dict):
            return list(result.get("items", []))
        return list(result or [])

    def hover(self, uri: str, line: int, character: int) -> str:
        """The hover text at a position ('' when there is none)."""
        result = self.request(
            "textDocument/hover",
            {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
        )
        if not result:
            return ""
        contents = result["contents"]
        if isinstance(contents, dict):
            return str(contents.get("value", ""))
        if isinstance(contents, list):
            return "\n".join(c if isinstance(c, str) else c.get("value", "") for c in contents)
        return str(contents)

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.proc.wait(timeout=10)
        except (LspError, OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
