"""The language server: its state, and the wiring of LSP methods and `qwen.*` commands
to the features. Handlers stay thin: convert, find the folder, call one feature."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Generator, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from lsprotocol import types
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInternalError,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcRequestCancelled,
    JsonRpcServerNotInitialized,
)
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.uris import to_fs_path

from qwen_ls import __version__
from qwen_ls.features import code_actions as actions_feature
from qwen_ls.features.positions import DocumentText, SyncedWorkspace
from qwen_ls.lazy import load_on_first_use
from qwen_ls.log import redact, remember_secret

if TYPE_CHECKING:
    import httpx

    from qwen_ls import config, llm
    from qwen_ls import progress as progress_module
    from qwen_ls.auth.session import OAuthSession
    from qwen_ls.config import ResolvedConfig
    from qwen_ls.features import args as arguments
    from qwen_ls.features import chat as chat_feature
    from qwen_ls.features import context as context_feature
    from qwen_ls.features import edit as edit_feature
    from qwen_ls.features import guard as guard_feature
    from qwen_ls.features import models as models_feature
    from qwen_ls.features import sessions as sessions_feature
    from qwen_ls.features import signin as signin_feature
    from qwen_ls.features import status as status_feature
    from qwen_ls.features import watchers as watchers_feature
    from qwen_ls.llm import ChatClient
else:
    # Loaded by the first request that reads them, after `initialize` is answered:
    # pydantic and the configuration models alone would add about 40% to start-up
    # (the start row of `python -m benchmarks`).
    config = load_on_first_use("qwen_ls.config")
    llm = load_on_first_use("qwen_ls.llm")
    progress_module = load_on_first_use("qwen_ls.progress")
    arguments = load_on_first_use("qwen_ls.features.args")
    chat_feature = load_on_first_use("qwen_ls.features.chat")
    context_feature = load_on_first_use("qwen_ls.features.context")
    edit_feature = load_on_first_use("qwen_ls.features.edit")
    guard_feature = load_on_first_use("qwen_ls.features.guard")
    models_feature = load_on_first_use("qwen_ls.features.models")
    sessions_feature = load_on_first_use("qwen_ls.features.sessions")
    signin_feature = load_on_first_use("qwen_ls.features.signin")
    status_feature = load_on_first_use("qwen_ls.features.status")
    watchers_feature = load_on_first_use("qwen_ls.features.watchers")

logger = logging.getLogger(__name__)

REQUEST_FAILED = -32803
STATUS_NOTIFICATION = "qwen/status"
WATCH_INTERVAL = 2.0
SHUTDOWN_GRACE = 2.0

T = TypeVar("T")


class RequestFailed(JsonRpcException):
    """A command could not do its job; `data.kind` says which kind of failure."""

    CODE = REQUEST_FAILED


_ANSWERED = object()  # a request already answered with an error while parsing it


def _field_errors(exc: Exception) -> str:
    cause = exc.__cause__
    if cause is None:
        return "malformed message"
    try:
        from cattrs import transform_error

        # The error is about the whole message, whose params are its `params`.
        return "; ".join(transform_error(cause, path="$")[:3])
    except Exception:
        return "malformed message"


class QwenProtocol(LanguageServerProtocol):
    """pygls' protocol with the fixes a long-running assistant needs.

    - `$/cancelRequest` also cancels our own command task: pygls cancels only the
      outer future of `workspace/executeCommand` and lets the handler run on.
    - Finished handlers are dropped from the request table, which pygls never does
      for notifications and for the inner tasks of commands.
    - Requests after `shutdown` are answered InvalidRequest instead of being dropped.
    - Open documents apply incremental changes where the client meant them
      (`SyncedWorkspace`), so that edits computed on them land in the right place.
    """

    _server: QwenLanguageServer
    _initialize_received = False

    def _execute_handler(  # type: ignore[no-untyped-def]
        self, msg_id, handler, callback, args=None, kwargs=None
    ):
        def forget_then(future: Any) -> None:
            if self._request_futures.get(msg_id) is future:
                del self._request_futures[msg_id]
            callback(future)

        return super()._execute_handler(msg_id, handler, forget_then, args, kwargs)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        # A running command of ours ends its stream and progress first, then answers
        # RequestCancelled itself; anything else is cancelled the pygls way.
        if not self._server.stop_request(msg_id) and msg_id in self._request_futures:
            super()._handle_cancel_notification(msg_id)

    def _send_handler_result(self, future: Any, *, msg_id: Any) -> None:
        # An expected failure (bad arguments, the endpoint said no) is an answer,
        # not a crash: send it without pygls' traceback at ERROR level. A real crash
        # is logged with its traceback, which the client does not get.
        error = None if future.cancelled() else future.exception()
        if error is None:
            super()._send_handler_result(future, msg_id=msg_id)
            return
        self._request_futures.pop(msg_id, None)
        if not isinstance(error, JsonRpcException):
            logger.error("request %s crashed", msg_id, exc_info=error)
            error = JsonRpcInternalError(
                f"internal error in qwen-ls ({type(error).__name__}); see its log"
            )
        else:
            logger.info("request %s failed: %s", msg_id, error.message)
        self._send_response(msg_id, error=error.to_response_error())

    def structure_message(self, data: Any) -> Any:
        if isinstance(data, dict) and data.get("method") == types.INITIALIZE:
            _drop_malformed_show_document(data)
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if not (
                isinstance(data, dict)
                and "method" in data
                and data.get("id") is not None
            ):
                raise  # a bad notification: logged and dropped by pygls
            self._send_response(
                data["id"],
                error=JsonRpcInvalidParams(
                    f"invalid params for {data['method']}: {_field_errors(exc)}"
                ).to_response_error(),
            )
            return _ANSWERED

    def handle_message(self, message: Any) -> None:
        if message is _ANSWERED:
            return
        method = getattr(message, "method", None)
        is_request = method is not None and getattr(message, "id", None) is not None
        early = not self._initialize_received and method not in (
            None,
            types.INITIALIZE,
            types.EXIT,
        )
        if early and not is_request:
            logger.info("dropped %s: it came before initialize", method)
            return
        if is_request and self._shutdown and method != types.EXIT:
            error: JsonRpcException = JsonRpcInvalidRequest(
                "the server is shutting down"
            )
        elif early:
            error = JsonRpcServerNotInitialized(
                f"{method} before initialize: send initialize first"
            )
        else:
            super().handle_message(message)
            return
        self._send_response(message.id, error=error.to_response_error())

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(
        self, params: types.InitializeParams
    ) -> Generator[Any, Any, types.InitializeResult]:
        result: types.InitializeResult = yield from super().lsp_initialize(params)
        # pygls builds executeCommandProvider without workDoneProgress; we accept a
        # workDoneToken on every command (protocol.md).
        provider = result.capabilities.execute_command_provider
        if provider is not None:
            provider.work_done_progress = True
        self._workspace = SyncedWorkspace.like(self.workspace)
        self._initialize_received = True
        return result

    @lsp_method(types.SHUTDOWN)
    def lsp_shutdown(self, *args: Any) -> Generator[Any, Any, None]:
        # pygls cancels what is left while iterating over the live request table,
        # which those cancellations change ("dictionary changed size during
        # iteration", answered as an internal error). Our commands have answered
        # by then (on_shutdown); the rest is cancelled from a copy.
        shutdown_id = self.msg_id
        handler = self.fm.features.get(types.SHUTDOWN)
        if handler is not None:
            yield handler, args, None
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != shutdown_id and not future.done():
                future.cancel()
        self._shutdown = True

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(
        self, params: types.ExecuteCommandParams
    ) -> Generator[Any, Any, Any]:
        # Our commands take the whole params (for `workDoneToken`) and validate
        # their own argument object, so that errors can name the field.
        handler = self.fm.commands.get(params.command)
        if handler is None:
            raise JsonRpcInvalidParams(
                f"unknown command {params.command!r}; this server offers: "
                + ", ".join(sorted(self.fm.commands))
            )
        return (yield handler, (params,), None)


class QwenLanguageServer(LanguageServer):
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        super().__init__(
            "qwen-ls",
            __version__,
            protocol_cls=QwenProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.environ: Mapping[str, str] = environ if environ is not None else os.environ
        self.initialization_options: Any = None
        self._editor: config.EditorSettings | None = None
        self.editor_problems: list[str] = []
        self.idle_timeout = 60.0
        self._client: ChatClient | None = None
        self._tasks: dict[Any, asyncio.Task[Any]] = {}
        self._cancelled_early: deque[Any] = deque(maxlen=256)
        self._answered: deque[Any] = deque(maxlen=256)  # a late cancel is for these
        self._cancelled_by_client: set[Any] = set()
        self._statuses: dict[str | None, dict[str, Any]] = {}
        self._watch_task: asyncio.Task[None] | None = None
        # Models, watched files and the host guard.
        self.model_overrides: dict[str | None, str] = {}
        self.watch_registration: str | None = None
        self._registrations = 0
        self._registration_lock = asyncio.Lock()
        self._file_errors: dict[str | None, set[str]] = {}
        self._last_configs: dict[str | None, ResolvedConfig] = {}
        self._consents: dict[tuple[Path, str], asyncio.Future[bool]] = {}
        self._allowed_hosts: guard_feature.AllowedHosts | None = None
        self._background: set[asyncio.Future[None]] = set()
        self._oauth: OAuthSession | None = None

    # Made on first use: each of these loads pydantic-backed modules, which
    # `initialize` does not wait for.

    @cached_property
    def configs(self) -> config.ConfigCache:
        return config.ConfigCache()

    @cached_property
    def sessions(self) -> sessions_feature.SessionStore:
        return sessions_feature.SessionStore()

    @cached_property
    def model_lists(self) -> models_feature.ModelListCache:
        return models_feature.ModelListCache()

    @property
    def editor(self) -> config.EditorSettings:
        """The editor's qwen.* settings: initializationOptions until the editor
        sends workspace/didChangeConfiguration."""
        self.load_editor_settings()
        assert self._editor is not None
        return self._editor

    def load_editor_settings(self) -> None:
        """Read initializationOptions, unless the editor has sent newer settings."""
        if self._editor is None:
            self.apply_editor_settings(self.initialization_options)

    @property
    def client(self) -> ChatClient:
        """One HTTP client (one connection pool) for every folder, made on first use."""
        if self._client is None:
            from qwen_ls.llm.client import ChatClient  # httpx: loaded by the first chat

            self._client = ChatClient(
                idle_timeout=self.idle_timeout, environ=self.environ
            )
        return self._client

    @property
    def oauth(self) -> OAuthSession:
        """The Qwen OAuth sign-in, per user and so shared by every folder."""
        if self._oauth is None:
            from qwen_ls.auth.session import OAuthSession

            self._oauth = OAuthSession(
                self.home, self.environ, transport=self._oauth_transport
            )
        return self._oauth

    def _oauth_transport(self) -> httpx.AsyncBaseTransport:
        # httpx: loaded by the first sign-in or OAuth chat, not by a status.
        import httpx

        from qwen_ls.llm.transport import RoutingTransport

        return RoutingTransport(self.environ, limits=httpx.Limits(max_connections=10))

    def client_for(
        self, endpoint: status_feature.Endpoint
    ) -> chat_feature.ChatStreamer:
        """The client that sends a chat to ``endpoint`` with its credentials."""
        if endpoint.auth_type == status_feature.QWEN_OAUTH:
            from qwen_ls.features.oauth_chat import OAuthChatClient

            return OAuthChatClient(self.client, self.oauth, self.signed_out)
        return self.client

    def signed_out(self, message: str) -> None:
        """The Qwen OAuth credentials stopped working: say so once, update status."""
        self.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=message)
        )
        self.configs.invalidate()
        self.publish_statuses()

    def report_server_error(self, error: Exception, source: Any) -> None:
        # Errors outside a request are logged, not popped up at the user each time.
        logger.error(
            "internal error (%s): %s", getattr(source, "__name__", source), error
        )

    @property
    def shutdown_received(self) -> bool:
        """Whether the client sent `shutdown` (an `exit` without it ends with 1)."""
        return bool(self.protocol._shutdown)

    # Workspace folders and configuration

    @property
    def home(self) -> Path:
        return Path(self.environ.get("HOME") or Path.home())

    def folder_for(self, uri: str | None) -> str | None:
        """The URI of the deepest workspace folder containing `uri`; without `uri`
        the first folder; None (user level only) when no folder contains it."""
        folders = list(self.workspace.folders)
        if uri is None:
            return folders[0] if folders else None
        path = to_fs_path(uri)
        if path is None:
            return None
        # "a/../b/x.py" belongs to b: never let a path pick another folder's key.
        target = Path(os.path.normpath(path))
        best: tuple[int, str] | None = None
        for folder_uri in folders:
            folder_path = to_fs_path(folder_uri)
            if folder_path is None:
                continue
            folder = Path(folder_path)
            if (target == folder or folder in target.parents) and (
                best is None or len(folder.parts) > best[0]
            ):
                best = (len(folder.parts), folder_uri)
        return best[1] if best else None

    def config_for(self, folder_uri: str | None) -> ResolvedConfig:
        folder_path = to_fs_path(folder_uri) if folder_uri else None
        cfg = self.configs.get(
            Path(folder_path) if folder_path else None,
            editor=self._editor_for(folder_uri),
            environ=self.environ,
            home=self.home,
        )
        if cfg.api_key is not None:
            remember_secret(cfg.api_key.value.get_secret_value())
        if self._last_configs.get(folder_uri) is not cfg:
            self._last_configs[folder_uri] = cfg
            self._report_file_errors(folder_uri, cfg)
        consent = self._consent_needed(cfg)
        extra = [consent.pending()] if consent is not None else []
        if self.editor_problems or extra:
            cfg = cfg.model_copy(
                update={"problems": [*self.editor_problems, *cfg.problems, *extra]}
            )
        return cfg.model_copy(update={"oauth": self.oauth.status()})

    def apply_editor_settings(self, raw: Any) -> None:
        settings, problems = config.EditorSettings.from_lsp(raw)
        if self._editor is not None and settings.model != self._editor.model:
            # The editor chose anew: that outranks a qwen.selectModel of this session.
            self.model_overrides.clear()
        self._editor, self.editor_problems = settings, problems
        remember_secret(settings.openai_api_key)
        qwen = raw.get("qwen", raw) if isinstance(raw, dict) else None
        timeout = qwen.get("idleTimeout") if isinstance(qwen, dict) else None
        if timeout is None:
            return
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, (int, float))
            or not (0 < timeout <= 3600)
        ):
            self.editor_problems.append(
                f"qwen.idleTimeout must be a number of seconds between 0 and 3600 "
                f"(got {str(timeout)[:20]!r}); using {self.idle_timeout:g} s"
            )
            return
        self.idle_timeout = float(timeout)
        if self._client is not None:
            self._client.idle_timeout = self.idle_timeout

    def publish_statuses(self) -> None:
        """Send `qwen/status` for every folder whose outcome changed."""
        folders: list[str | None] = list(self.workspace.folders) or [None]
        for folder_uri in folders:
            try:
                cfg = self.config_for(folder_uri)
            except Exception:
                logger.exception("cannot resolve the configuration of %s", folder_uri)
                continue
            self._publish_status(folder_uri, cfg)
        for gone in set(self._statuses) - set(folders):
            del self._statuses[gone]

    def _publish_status(self, folder_uri: str | None, cfg: ResolvedConfig) -> None:
        status = status_feature.status_notification(cfg, folder_uri)
        if self._statuses.get(folder_uri) == status:
            return
        self._statuses[folder_uri] = status
        self.protocol.notify(STATUS_NOTIFICATION, _redacted(status))

    async def watch_configuration(self) -> None:
        """A cheap stat-based check, so that edits to watched files reach the status
        line even when the client cannot watch files for us."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            self.publish_statuses()

    # Requests and their cancellation

    async def run_request(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run one command so that `$/cancelRequest` can stop it, and turn its
        failures into JSON-RPC errors a person can act on."""
        msg_id = self.protocol.msg_id
        if msg_id is not None and msg_id in self._cancelled_early:
            # Cancelled before it arrived: it still gets its answer.
            self._cancelled_early.remove(msg_id)
            raise JsonRpcRequestCancelled(f"request {msg_id} was cancelled")
        task = asyncio.current_task()
        if msg_id is not None and task is not None:
            self._tasks[msg_id] = task
        try:
            return await work()
        except asyncio.CancelledError:
            if msg_id is not None and msg_id in self._cancelled_by_client:
                self._cancelled_by_client.discard(msg_id)
                raise JsonRpcRequestCancelled(
                    f"request {msg_id} was cancelled"
                ) from None
            raise
        except arguments.InvalidArguments as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        except context_feature.ContextError as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        except sessions_feature.UnknownSession:
            raise JsonRpcInvalidParams(
                "sessionId: unknown session in this workspace (it may have expired "
                "or the server restarted); start a new chat without sessionId"
            ) from None
        except llm.LLMError as exc:
            data: dict[str, Any] = {"kind": exc.kind}
            if exc.status is not None:
                data["status"] = exc.status
            if exc.retry_after is not None:
                data["retryAfter"] = exc.retry_after
            raise RequestFailed(redact(str(exc)), data=data) from None
        finally:
            if msg_id is not None:
                self._tasks.pop(msg_id, None)
                self._cancelled_by_client.discard(msg_id)
                self._answered.append(msg_id)

    def stop_request(self, msg_id: Any) -> bool:
        """Cancel our task for this request; False when it has not started (it
        will not start) or is not ours."""
        task = self._tasks.pop(msg_id, None)
        if task is None:
            if msg_id not in self._answered:  # a cancel after the answer is moot
                self._cancelled_early.append(msg_id)
            return False
        self._cancelled_by_client.add(msg_id)
        task.cancel()
        return True

    async def stop_all_requests(self) -> None:
        """Before shutdown is answered: every running command ends its stream and
        progress and answers RequestCancelled (bounded by SHUTDOWN_GRACE)."""
        stopping = list(self._tasks)
        for msg_id in stopping:
            self.stop_request(msg_id)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_GRACE
        futures = self.protocol._request_futures
        while loop.time() < deadline and any(
            (future := futures.get(msg_id)) is not None and not future.done()
            for msg_id in stopping
        ):
            await asyncio.sleep(0.005)

    def internal_stats(self) -> dict[str, int]:
        """Sizes of everything that grows per request, for leak checks."""
        return {
            "runningRequests": len(self._tasks),
            "requestFutures": len(self.protocol._request_futures),
            "resultTypes": len(self.protocol._result_types),
            "progressTokens": len(self.work_done_progress.tokens),
            "sessions": len(self.sessions),
            "statuses": len(self._statuses),
            "rssKiB": _rss_kib(),
        }

    # Models, watched files and the host guard

    def _editor_for(self, folder_uri: str | None) -> config.EditorSettings:
        """The editor settings, with a model chosen in this session for the folder
        when the editor's own qwen.model would otherwise hide that choice."""
        chosen = self.model_overrides.get(folder_uri)
        if chosen is None or not self.editor.model:
            return self.editor
        source = (
            f"qwen.selectModel in this session (outranks the editor's qwen.model "
            f"{self.editor.model} until a restart)"
        )
        return self.editor.model_copy(update={"model": chosen, "model_source": source})

    def _report_file_errors(self, folder_uri: str | None, cfg: ResolvedConfig) -> None:
        """Show each unusable configuration file once (field case B19), and say
        when it is usable again."""
        errors = {p for p in cfg.problems if _is_file_error(p)}
        before = set().union(*self._file_errors.values())
        self._file_errors[folder_uri] = errors
        after = set().union(*self._file_errors.values())
        for problem in sorted(errors - before):
            logger.error("%s", problem)
            level = (
                types.MessageType.Error
                if "ignored" in problem.partition(" — ")[2]
                else types.MessageType.Warning
            )
            self.window_show_message(
                types.ShowMessageParams(type=level, message=redact(problem))
            )
        for problem in sorted(before - after):
            logger.info("no longer a problem: %s", problem)
            self.window_log_message(
                types.LogMessageParams(
                    type=types.MessageType.Info,
                    message=redact(f"fixed, read again: {problem}"),
                )
            )

    @property
    def allowed_hosts(self) -> guard_feature.AllowedHosts:
        if self._allowed_hosts is None:
            path = guard_feature.allowed_hosts_path(self.home)
            self._allowed_hosts = guard_feature.AllowedHosts(path)
        return self._allowed_hosts

    def _consent_needed(self, cfg: ResolvedConfig) -> guard_feature.Consent | None:
        return guard_feature.consent_pending(cfg, self.allowed_hosts)

    async def check_host(self, cfg: ResolvedConfig) -> None:
        """The host guard, run before any chat or edit request is sent: a user-level
        key goes to a host a project file chose only once the user allowed it."""
        consent = self._consent_needed(cfg)
        if consent is None:
            return
        if not self.can_ask_user():
            raise llm.ConfigError(
                consent.refusal("this editor cannot ask (no window/showMessageRequest)")
            )
        key = (consent.folder, consent.host)
        asking = self._consents.get(key)
        if asking is None:
            asking = asyncio.ensure_future(self._ask_consent(consent))
            self._consents[key] = asking
            asking.add_done_callback(lambda _: self._consents.pop(key, None))
        if not await asyncio.shield(asking):
            raise llm.ConfigError(
                consent.refusal("you answered Don't allow, or closed the question")
            )

    async def _ask_consent(self, consent: guard_feature.Consent) -> bool:
        try:
            answer = await self.window_show_message_request_async(
                types.ShowMessageRequestParams(
                    type=types.MessageType.Warning,
                    message=redact(consent.question()),
                    actions=[
                        types.MessageActionItem(title=guard_feature.ALLOW),
                        types.MessageActionItem(title=guard_feature.DONT_ALLOW),
                    ],
                )
            )
        except Exception as exc:
            logger.warning("the editor could not ask about %s: %s", consent.host, exc)
            raise llm.ConfigError(
                consent.refusal("the editor could not show the question")
            ) from None
        if answer is None or answer.title != guard_feature.ALLOW:
            logger.info("%s not allowed for %s", consent.host, consent.folder)
            return False
        warning = self.allowed_hosts.allow(consent.folder, consent.host)
        if warning is not None:
            self.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Warning, message=warning)
            )
        logger.info("%s allowed for %s", consent.host, consent.folder)
        self.publish_statuses()
        return True

    def can_ask_user(self) -> bool:
        window = self.client_capabilities.window
        return window is not None and window.show_message is not None

    def schedule_watchers(self) -> None:
        task = asyncio.ensure_future(self.register_watchers())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def register_watchers(self) -> None:
        """Ask the editor to watch every configuration file, replacing the previous
        registration; nothing where it cannot register watchers dynamically."""
        workspace = self.client_capabilities.workspace
        caps = workspace.did_change_watched_files if workspace else None
        if caps is None or not caps.dynamic_registration:
            return
        async with self._registration_lock:
            folders = [
                Path(path)
                for uri in self.workspace.folders
                if (path := to_fs_path(uri)) is not None
            ]
            watchers = watchers_feature.file_watchers(
                folders,
                self.home,
                relative_patterns=bool(caps.relative_pattern_support),
            )
            self._registrations += 1
            new_id = f"qwen-ls-config-files-{self._registrations}"
            method = types.WORKSPACE_DID_CHANGE_WATCHED_FILES
            try:
                await self.client_register_capability_async(
                    types.RegistrationParams(
                        registrations=[
                            types.Registration(
                                id=new_id,
                                method=method,
                                register_options=types.DidChangeWatchedFilesRegistrationOptions(
                                    watchers=watchers
                                ),
                            )
                        ]
                    )
                )
            except Exception as exc:
                logger.warning("the editor did not accept file watchers: %s", exc)
                return
            old, self.watch_registration = self.watch_registration, new_id
            if old is None:
                return
            try:
                await self.client_unregister_capability_async(
                    types.UnregistrationParams(
                        unregisterations=[types.Unregistration(id=old, method=method)]
                    )
                )
            except Exception as exc:
                logger.warning("the editor did not drop old file watchers: %s", exc)

    def forget_folder(self, folder_uri: str) -> None:
        self.model_overrides.pop(folder_uri, None)
        self._last_configs.pop(folder_uri, None)
        self._file_errors.pop(folder_uri, None)

    async def models_of(
        self, folder_uri: str | None, cfg: ResolvedConfig
    ) -> list[models_feature.ModelEntry]:
        """The model list of a folder; the endpoint is asked only where a chat could
        be sent without asking the user first."""
        endpoint = None
        try:
            chat = status_feature.endpoint_for(cfg)
        except llm.ConfigError:
            chat = None
        if chat is not None and cfg.base_url is not None:
            if self._consent_needed(cfg) is None:
                endpoint = (cfg.base_url.value, chat.api_key)
            else:
                logger.info("not listing the models of an endpoint not yet allowed")

        async def lister(base_url: str, api_key: str | None) -> list[str] | None:
            return await self.model_lists.ids(self.client, base_url, api_key)

        return await models_feature.list_models(
            cfg,
            oauth_signed_in=cfg.oauth.signed_in if cfg.oauth is not None else False,
            endpoint=endpoint,
            lister=lister,
        )

    async def aclose(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
        if self._oauth is not None:
            await self._oauth.aclose()
        if self._client is not None:
            await self._client.aclose()


def _rss_kib() -> int:
    """Current resident memory (Linux), else the peak, else 0."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, AttributeError):
        pass
    try:
        import resource
    except ImportError:  # Windows
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _is_file_error(problem: str) -> bool:
    """A configuration file that could not be used at all: invalid settings or trust
    rules (an error), or a file that cannot be read (a warning, field case B23)."""
    return (
        "— settings ignored" in problem
        or "— its rules are ignored" in problem
        or problem.startswith("cannot read ")
        or problem.endswith(" is a directory, not a file; ignored")
    )


def _drop_malformed_show_document(message: dict[str, Any]) -> None:
    """B57: ``window.showDocument`` must be ``{"support": <bool>}``. Anything else
    (``true``, ``{}``, a string) would make pygls reject the whole initialize
    request; it is dropped instead, which means: no showDocument."""
    params = message.get("params")
    capabilities = params.get("capabilities") if isinstance(params, dict) else None
    window = capabilities.get("window") if isinstance(capabilities, dict) else None
    if not isinstance(window, dict) or "showDocument" not in window:
        return
    show = window["showDocument"]
    if not (isinstance(show, dict) and isinstance(show.get("support"), bool)):
        logger.info("ignoring malformed window.showDocument capability")
        del window["showDocument"]


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


server = QwenLanguageServer()


@server.feature(types.INITIALIZE)
def on_initialize(ls: QwenLanguageServer, params: types.InitializeParams) -> None:
    # Only kept: reading them loads the configuration models, after the answer.
    ls.initialization_options = params.initialization_options


@server.feature(types.INITIALIZED)
def on_initialized(ls: QwenLanguageServer, params: types.InitializedParams) -> None:
    ls.load_editor_settings()
    ls.publish_statuses()
    ls._watch_task = asyncio.ensure_future(ls.watch_configuration())
    ls.schedule_watchers()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def on_configuration(
    ls: QwenLanguageServer, params: types.DidChangeConfigurationParams
) -> None:
    if params.settings is not None:
        ls.apply_editor_settings(params.settings)
    ls.configs.invalidate()
    ls.publish_statuses()


@server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
def on_folders(
    ls: QwenLanguageServer, params: types.DidChangeWorkspaceFoldersParams
) -> None:
    for removed in params.event.removed:
        path = to_fs_path(removed.uri)
        if path:
            ls.configs.drop(Path(path))
        ls.sessions.drop_folder(removed.uri)
        ls.forget_folder(removed.uri)
    ls.publish_statuses()
    ls.schedule_watchers()


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def on_watched_files(
    ls: QwenLanguageServer, params: types.DidChangeWatchedFilesParams
) -> None:
    paths = [Path(p) for change in params.changes if (p := to_fs_path(change.uri))]
    ls.configs.changed(paths)
    ls.publish_statuses()


@server.feature(types.SHUTDOWN)
async def on_shutdown(ls: QwenLanguageServer, *args: Any) -> None:
    await ls.stop_all_requests()
    await ls.aclose()


@server.command("qwen.status")
async def qwen_status(
    ls: QwenLanguageServer, params: types.ExecuteCommandParams
) -> dict[str, Any]:
    async def work() -> dict[str, Any]:
        args = arguments.parse_args(arguments.StatusArgs, params.arguments)
        folder_uri = ls.folder_for(args.uri)
        cfg = ls.config_for(folder_uri)
        ls._publish_status(folder_uri, cfg)
        return _redacted(status_feature.status_result(cfg, folder_uri))

    return await ls.run_request(work)


@server.command("qwen.internalStats")
async def qwen_internal_stats(
    ls: QwenLanguageServer, params: types.ExecuteCommandParams
) -> dict[str, int]:
    """Not for users: the sizes of the server's tables, for leak tests."""
    return ls.internal_stats()


async def _model_turn(
    ls: QwenLanguageServer,
    cfg: ResolvedConfig,
    endpoint: status_feature.Endpoint,
    session: sessions_feature.Session,
    system_prompt: str,
    message: str,
    *,
    work_done_token: Any,
    partial_token: Any,
    title: str = "Qwen",
) -> chat_feature.ChatOutcome:
    """Send one turn of `session` to the model, streaming it into the progress
    channels; the turn is kept in the session when an answer came back."""
    request = llm.ChatRequest(
        url=endpoint.url,
        api_key=endpoint.api_key,
        model=endpoint.model,
        messages=[
            {"role": "system", "content": system_prompt},
            *session.messages,
            {"role": "user", "content": message},
        ],
        extra_body=endpoint.extra_body,
        workspace=str(cfg.workspace_folder or "user level"),
    )
    progress = progress_module.RequestProgress(
        ls,
        work_done_token=work_done_token,
        partial_token=partial_token,
        title=title,
    )
    try:
        outcome = await chat_feature.stream_answer(
            ls.client_for(endpoint), request, progress, session_id=session.id
        )
    except llm.LLMError as exc:
        raise status_feature.explain_failure(exc, cfg) from None
    session.add_turn(message, outcome.text)
    return outcome


@server.command("qwen.chat")
async def qwen_chat(
    ls: QwenLanguageServer, params: types.ExecuteCommandParams
) -> dict[str, Any]:
    async def work() -> dict[str, Any]:
        started = time.monotonic()
        args = arguments.parse_args(arguments.ChatArgs, params.arguments)
        folder_uri = ls.folder_for(args.uri)
        cfg = ls.config_for(folder_uri)
        ls._publish_status(folder_uri, cfg)
        endpoint = status_feature.endpoint_for(cfg, args.model)
        await ls.check_host(cfg)

        context = None
        if args.range is not None or (args.uri and _is_document(ls, args.uri)):
            assert args.uri is not None
            document = await context_feature.document_for(ls.workspace, args.uri)
            context = context_feature.code_context(document, args.range)
        session = ls.sessions.get(args.session_id, folder_uri or "")
        outcome = await _model_turn(
            ls,
            cfg,
            endpoint,
            session,
            chat_feature.SYSTEM_PROMPT,
            chat_feature.user_message(args.prompt, context),
            work_done_token=params.work_done_token,
            partial_token=args.partial_result_token,
        )
        if args.notify and not outcome.cancelled:
            _show_answer(ls, outcome.text)
        logger.debug("chat %s done in %.2f s", session.id, time.monotonic() - started)
        return outcome.result(session.id, endpoint.model)

    return await ls.run_request(work)


# Sign-in: qwen.auth and qwen.logout. The flows live in qwen_ls/auth; the handlers
# below only convert arguments, pick the folder and report progress.


@server.command("qwen.auth")
async def qwen_auth(
    ls: QwenLanguageServer, params: types.ExecuteCommandParams
) -> dict[str, Any]:
    # Before anything could log or echo it, even a malformed call.
    for argument in params.arguments or []:
        if isinstance(argument, dict) and isinstance(argument.get("apiKey"), str):
            remember_secret(argument["apiKey"])
            remember_secret(argument["apiKey"].strip())

    async def work() -> dict[str, Any]:
        args = arguments.parse_args(arguments.AuthArgs, params.arguments)
        return await signin_feature.sign_in(ls, args, params.work_done_token)

    return _redacted(await ls.run_request(work))


@server.command("qwen.logout")
async def qwen_logout(
    ls: QwenLanguageServer, params: types.ExecuteCommandParams
) -> dict[str, Any]:
    async def work() -> dict[str, Any]:
        args = arguments.parse_args(arguments.LogoutArgs, params.arguments)
        return await signin_feature.sign_out(ls, args)

    return _redacted(await ls.run_request(work))


# Models: qwen.listModels and qwen.selectModel. Listing and persisting live in
# qwen_ls/features/models.py.


@server.command("qwen.listModels")
async def qwen_list_models(
    ls: QwenLanguageServer, params: types.ExecuteCommandParams
) -> list[dict[str, Any]]:
    async def work() -> list[dict[str, Any]]:
        args = arguments.parse_args(arguments.ListModelsArgs, params.arguments)
        folder_uri = ls.folder_for(args.uri)
        cfg = ls.config_for(folder_uri)
        entries = await ls.models_of(folder_uri, cfg)
        return [_redacted(e.as_dict(current=cfg.model.value)) for e in entries]

    return await ls.run_request(work)


@server.command("qwen.selectModel")
async def qwen_select_model(
    ls: QwenLanguageServer, params: types.ExecuteCommandParams
) -> dict[str, Any]:
    async def work() -> dict[str, Any]:
        args = arguments.parse_args(arguments.SelectModelArgs, params.arguments)
        folder_uri = ls.folder_for(args.uri)
        cfg = ls.config_for(folder_uri)
        try:
            target = models_feature.target(cfg, args.scope)
        except models_feature.CannotSave as exc:
            raise arguments.InvalidArguments(str(exc)) from None
        model = args.model or await _ask_model(ls, folder_uri, cfg)
        if model is None:
            return {"model": cfg.model.value, "changed": False}

        models_feature.save(target, model)
        ls.configs.changed([target.path])
        notes = list(target.notes)
        if ls.editor.model and ls.editor.model != model:
            ls.model_overrides[folder_uri] = model
            notes.append(models_feature.editor_outranks(ls.editor.model, model))
        elif ls.editor.model:
            ls.model_overrides.pop(folder_uri, None)
        elif (shadow := models_feature.shadowed_by(cfg, target)) is not None:
            notes.append(shadow)
        ls.publish_statuses()
        now = ls.config_for(folder_uri)
        return _redacted(
            {
                "model": now.model.value,
                "changed": True,
                "scope": target.scope,
                "settingsFile": str(target.path),
                "problems": notes,
            }
        )

    return await ls.run_request(work)


async def _ask_model(
    ls: QwenLanguageServer, folder_uri: str | None, cfg: ResolvedConfig
) -> str | None:
    """The model the user picks with window/showMessageRequest; None if dismissed."""
    if not ls.can_ask_user():
        raise arguments.InvalidArguments(
            "model: required, this editor cannot show a choice "
            "(window/showMessageRequest)"
        )
    entries = await ls.models_of(folder_uri, cfg)
    titles, left_out = models_feature.choices(entries, cfg.model.value)
    label = status_feature.folder_label(cfg)
    answer = await ls.window_show_message_request_async(
        types.ShowMessageRequestParams(
            type=types.MessageType.Info,
            message=models_feature.question(label, cfg.model.value, left_out),
            actions=[types.MessageActionItem(title=t) for t in titles],
        )
    )
    if answer is None or answer.title not in titles:
        return None
    return titles[answer.title].id


# Code actions and qwen.edit. Listing actions never calls the model; what the
# actions offer is in qwen_ls/features/code_actions.py, the edit in
# qwen_ls/features/edit.py, positions in the client's encoding in positions.py.

_settings_problems = actions_feature.ProblemLog()


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(
        code_action_kinds=actions_feature.KINDS, resolve_provider=True
    ),
)
def on_code_action(
    ls: QwenLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction] | list[types.Command]:
    document = ls.workspace.text_documents.get(unquote(params.text_document.uri))
    if document is None:
        return []  # editors ask for open documents only; nothing to act on
    text = DocumentText.of(document.source, ls.workspace.position_encoding)
    actions = actions_feature.code_actions(
        text, params, _custom_actions(ls, params.text_document.uri)
    )
    text_caps = ls.client_capabilities.text_document
    code_action_caps = text_caps.code_action if text_caps else None
    if code_action_caps is None or code_action_caps.code_action_literal_support is None:
        return actions_feature.as_commands(actions)
    return actions


@server.feature(types.CODE_ACTION_RESOLVE)
def on_code_action_resolve(
    ls: QwenLanguageServer, action: types.CodeAction
) -> types.CodeAction:
    # Every action already carries its command: resolving stays cheap.
    return action


def _custom_actions(
    ls: QwenLanguageServer, uri: str
) -> list[actions_feature.CustomAction]:
    try:
        cfg = ls.config_for(ls.folder_for(uri))
    except Exception:
        logger.exception("cannot read the settings for the code actions of %s", uri)
        return []
    extra, problems = actions_feature.custom_actions(cfg.settings)
    _settings_problems.report(problems)
    return extra


@server.command("qwen.edit")
async def qwen_edit(
    ls: QwenLanguageServer, params: types.ExecuteCommandParams
) -> dict[str, Any]:
    async def work() -> dict[str, Any]:
        args = arguments.parse_args(arguments.EditArgs, params.arguments)
        folder_uri = ls.folder_for(args.uri)
        document = await context_feature.document_for(ls.workspace, args.uri)
        snapshot = edit_feature.Snapshot(
            uri=document.uri,
            version=document.version,
            source=document.source,
            path=document.path,
        )
        target = edit_feature.edit_target(
            DocumentText.of(snapshot.source, ls.workspace.position_encoding),
            _lsp_range(args.range),
            document.path or args.uri,
            context_feature.language_of(document),
        )

        cfg = ls.config_for(folder_uri)
        ls._publish_status(folder_uri, cfg)
        endpoint = status_feature.endpoint_for(cfg)
        await ls.check_host(cfg)
        session = ls.sessions.get(args.session_id, folder_uri or "")
        outcome = await _model_turn(
            ls,
            cfg,
            endpoint,
            session,
            edit_feature.EDIT_SYSTEM_PROMPT,
            edit_feature.edit_prompt(target, args.instruction),
            work_done_token=params.work_done_token,
            partial_token=args.partial_result_token,
            title="Qwen: edit",
        )
        if outcome.cancelled:
            return edit_feature.edit_result(session.id, outcome.text, "cancelled")

        code, reason = edit_feature.replacement(
            outcome.text, outcome.finish_reason, target
        )
        if code is not None:
            label = edit_feature.edit_label(args.instruction)
            reason = await _apply(ls, snapshot, target.range, code, label)
        if reason is not None and args.notify:
            ls.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Warning,
                    message=f"Qwen did not apply the edit: {reason}.",
                )
            )
        return edit_feature.edit_result(
            session.id, outcome.text if code is None else code, reason
        )

    return await ls.run_request(work)


async def _apply(
    ls: QwenLanguageServer,
    snapshot: edit_feature.Snapshot,
    range_: types.Range,
    new_text: str,
    label: str,
) -> str | None:
    """Apply the edit if the document is as it was; the reason when not applied.
    A rejected edit is reported, never retried."""
    capabilities = ls.client_capabilities
    if not (capabilities.workspace and capabilities.workspace.apply_edit):
        return "this editor cannot apply edits (no workspace/applyEdit)"
    on_disk = None
    if snapshot.version is None and not _is_open(ls, snapshot.uri):
        on_disk = await edit_feature.source_on_disk(snapshot.path)
    current = ls.workspace.text_documents.get(unquote(snapshot.uri))
    reason = edit_feature.stale_reason(snapshot, current, on_disk)
    if reason is not None:
        return reason

    edit = edit_feature.workspace_edit(
        capabilities,
        current.uri if current is not None else snapshot.uri,
        current.version if current is not None else None,
        range_,
        new_text,
        label,
    )
    try:
        answer = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=edit, label=label)
        )
    except Exception as exc:
        return f"the editor could not apply the edit: {exc}"
    if not answer.applied:
        return "the editor did not apply the edit" + (
            f": {answer.failure_reason}" if answer.failure_reason else ""
        )
    return None


def _show_answer(ls: QwenLanguageServer, text: str) -> None:
    """For editors without a qwen-ls plugin, which drop a command's result."""
    if text.strip():
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Info, message=text)
        )


def _lsp_range(range_: arguments.Range) -> types.Range:
    return types.Range(
        start=types.Position(range_.start.line, range_.start.character),
        end=types.Position(range_.end.line, range_.end.character),
    )


def _is_open(ls: QwenLanguageServer, uri: str) -> bool:
    return unquote(uri) in ls.workspace.text_documents


def _is_document(ls: QwenLanguageServer, uri: str) -> bool:
    """An open buffer or an existing file: a folder URI only selects the folder."""
    if _is_open(ls, uri):
        return True
    path = to_fs_path(uri)
    return path is not None and Path(path).is_file()
