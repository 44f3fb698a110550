"""Marking agent callables: ``agent()`` (a plain closure) and ``wrap()`` (wrapt, in place).

Outside a chaos run a wrapped agent only forwards, and that path is kept to one global read and
one comparison: DESIGN.md measures a plain closure at about 3x a raw call, wrapt at 6x-15x.
"""

from __future__ import annotations

import functools
import inspect
import sys
import threading
import types
from collections.abc import Callable
from typing import Any, TypeVar, overload

from pytest_agentchaos.engine.calls import CallOptions
from pytest_agentchaos.engine.run import ChaosRun
from pytest_agentchaos.engine.threads import bind_new_threads, owners
from pytest_agentchaos.errors import ChaosConfigError

F = TypeVar("F", bound=Callable[..., Any])

_active: ChaosRun | None = None


def activate(run: ChaosRun | None) -> ChaosRun | None:
    """Make ``run`` the run that wrapped agents report to; returns the previous one.

    Threads started while ``run`` is active belong to it (:mod:`~pytest_agentchaos.engine.threads`).
    """
    global _active
    previous, _active = _active, run
    bind_new_threads(run)
    return previous


def current_run() -> ChaosRun | None:
    """The chaos run in progress in this process, if any, as this thread sees it: ``None``
    for a thread that belongs to another (ended) run."""
    run = _active
    if run is not None and owners and owners.get(threading.get_ident(), run) is not run:
        return None
    return run


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(
        getattr(fn, "__call__", None)  # noqa: B004 - a callable object with async __call__
    )


def _check_name(name: object) -> str:
    """An agent's name is stored and shown in every report: it must be encodable text.

    A NUL or a lone surrogate cannot be (SQLite's UTF-8, generated code); other control
    characters are escaped where names are shown (the reports), so they are accepted.
    """
    if not isinstance(name, str) or not name.strip():
        raise ChaosConfigError(f"an agent needs a non-empty name, got {name!r}")
    problem = _name_problem(name)
    if problem is not None:
        raise ChaosConfigError(
            f"agent name {name!r} is not usable: {problem}; an agent name is stored and shown "
            "in reports, so it must be text that UTF-8 can encode, without NUL characters"
        )
    return name


def _name_problem(name: str) -> str | None:
    for char in name:
        if 0xD800 <= ord(char) <= 0xDFFF:
            return f"it is not valid Unicode text (a lone surrogate, {char!r})"
        if char == "\x00":
            return "it contains a NUL character ('\\x00')"
    return None


@overload
def agent(name: F) -> F: ...
@overload
def agent(
    name: str, side_effect: bool = False, key: str | Callable[..., str] | None = None
) -> Callable[[F], F]: ...
def agent(
    name: str | F, side_effect: bool = False, key: str | Callable[..., str] | None = None
) -> Callable[[F], F] | F:
    """Mark a callable as the agent ``name`` (a no-op unless a chaos run is active).

    ``side_effect=True`` declares that the agent writes somewhere outside its return value: it
    then runs at most once per idempotency key in a run, and a repeat gets the recorded result.
    ``key`` is a fixed key or a function of the call's arguments; by default the key is the
    canonical JSON of the arguments. Bare ``@agent`` names the agent after the function.
    """
    if callable(name):
        return agent(getattr(name, "__name__", type(name).__name__))(name)
    agent_name = _check_name(name)
    options = CallOptions(side_effect=side_effect, key=key)

    def decorate(fn: F) -> F:
        wrapper = _exact_wrapper(fn, agent_name, options) or _generic_wrapper(
            fn, agent_name, options
        )
        functools.update_wrapper(wrapper, fn)
        wrapper.__agentchaos_agent__ = agent_name  # type: ignore[attr-defined]
        wrapper.__agentchaos_side_effect__ = side_effect  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _generic_wrapper(fn: Callable[..., Any], name: str, options: CallOptions) -> Callable[..., Any]:
    """The wrapper for callables whose signature cannot be read (some builtins)."""
    if _is_async(fn):

        async def async_agent(*args: Any, **kwargs: Any) -> Any:
            run = _active
            if run is None:
                return await fn(*args, **kwargs)
            return await run.acall(name, fn, args, kwargs, options)

        return async_agent

    def sync_agent(*args: Any, **kwargs: Any) -> Any:
        run = _active
        if run is None:
            return fn(*args, **kwargs)
        return run.call(name, fn, args, kwargs, options)

    return sync_agent


_TEMPLATE = """\
def __ac_factory(__ac_fn, __ac_name, __ac_opts{defaults}):
    {async_}def wrapper({params}):
        __ac_run = _active
        if __ac_run is None:
            return {await_}__ac_fn({forward})
        return {await_}__ac_run.{method}(
            __ac_name, __ac_fn, ({positional}), {{{keywords}}}, __ac_opts
        )
    return wrapper
"""


def _exact_wrapper(
    fn: Callable[..., Any], name: str, options: CallOptions
) -> Callable[..., Any] | None:
    """A wrapper with ``fn``'s own parameters, generated once per agent.

    Packing ``*args, **kwargs`` costs more than the rest of the forwarding path together: with
    the exact parameters a call outside a chaos run stays near 3x a raw call.
    """
    try:
        # Not through __wrapped__: an inner decorator may supply arguments itself.
        signature = inspect.signature(fn, follow_wrapped=False)
    except (TypeError, ValueError):
        return None
    params: list[str] = []
    forward: list[str] = []
    positional: list[str] = []
    keywords: list[str] = []
    defaults: dict[str, Any] = {}
    kinds = inspect.Parameter
    saw_star = saw_positional_only = False
    for index, parameter in enumerate(signature.parameters.values()):
        pname = parameter.name
        if not pname.isidentifier() or pname.startswith("__ac_") or pname == "_active":
            return None
        text = pname
        if parameter.default is not parameter.empty:
            defaults[f"__ac_d{index}"] = parameter.default
            text = f"{pname}=__ac_d{index}"
        kind = parameter.kind
        if kind is not kinds.POSITIONAL_ONLY and saw_positional_only and "/" not in params:
            params.append("/")
        if kind is kinds.POSITIONAL_ONLY:
            saw_positional_only = True
            params.append(text)
            forward.append(pname)
            positional.append(pname)
        elif kind is kinds.POSITIONAL_OR_KEYWORD:
            params.append(text)
            forward.append(pname)
            positional.append(pname)
        elif kind is kinds.VAR_POSITIONAL:
            saw_star = True
            params.append(f"*{pname}")
            forward.append(f"*{pname}")
            positional.append(f"*{pname}")
        elif kind is kinds.KEYWORD_ONLY:
            if not saw_star:
                saw_star = True
                params.append("*")
            params.append(text)
            forward.append(f"{pname}={pname}")
            keywords.append(f"{pname!r}: {pname}")
        else:
            params.append(f"**{pname}")
            forward.append(f"**{pname}")
            keywords.append(f"**{pname}")
    if saw_positional_only and "/" not in params:
        params.append("/")
    is_async = _is_async(fn)
    source = _TEMPLATE.format(
        defaults="".join(f", {key}" for key in defaults),
        async_="async " if is_async else "",
        await_="await " if is_async else "",
        params=", ".join(params),
        forward=", ".join(forward),
        method="acall" if is_async else "call",
        positional="".join(f"{item}, " for item in positional),
        keywords=", ".join(keywords),
    )
    namespace: dict[str, Any] = {}
    # Module globals, so the generated code reads the live `_active` of this module.
    exec(compile(source, f"<agent {name}>", "exec"), globals(), namespace)
    wrapper: Callable[..., Any] = namespace["__ac_factory"](fn, name, options, *defaults.values())
    return wrapper


_ABSENT: Any = object()


class Patch:
    """An agent wrapped in place by :func:`wrap`; ``undo()`` (or leaving ``with``) restores it."""

    def __init__(self, owner: Any, attribute: str | None, original: Any, wrapper: Any) -> None:
        self.owner, self.attribute, self.original, self.wrapper = (
            owner,
            attribute,
            original,
            wrapper,
        )

    def undo(self) -> None:
        if self.attribute is not None and self.owner is not None:
            if self.original is _ABSENT:  # it lived on the class: uncover it again
                delattr(self.owner, self.attribute)
            else:
                setattr(self.owner, self.attribute, self.original)
            self.owner = None

    def __enter__(self) -> Any:
        return self.wrapper

    def __exit__(self, *exc_info: object) -> None:
        self.undo()


def _make_wrapper(name: str, options: CallOptions, is_async: bool) -> Callable[..., Any]:
    import wrapt

    if is_async:

        @wrapt.decorator
        async def async_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            run = _active
            if run is None:
                return await wrapped(*args, **kwargs)
            return await run.acall(name, wrapped, args, kwargs, options, instance)

        return async_wrapper

    @wrapt.decorator
    def sync_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        run = _active
        if run is None:
            return wrapped(*args, **kwargs)
        return run.call(name, wrapped, args, kwargs, options, instance)

    return sync_wrapper


def _owner_of(fn: Any) -> tuple[Any, str]:
    """Where a function or method lives, so it can be replaced there."""
    qualname = getattr(fn, "__qualname__", None)
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    if qualname is None or module is None or "<locals>" in qualname:
        raise ChaosConfigError(
            f"cannot patch {fn!r} in place: it is not reachable from its module; "
            "decorate it with agent() or pass the owner: wrap(owner, name, attribute='...')"
        )
    owner: Any = module
    *path, attribute = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    return owner, attribute


def wrap(
    obj: Any,
    name: str,
    *,
    attribute: str | None = None,
    side_effect: bool = False,
    key: str | Callable[..., str] | None = None,
) -> Patch:
    """Make code you do not own an agent, in place (with wrapt).

    ``wrap(module.func, "pricing")`` and ``wrap(Class.method, "pricing")`` replace the function
    where it is defined; ``wrap(owner, "pricing", attribute="run")`` replaces ``owner.run``; a
    callable object becomes a proxy that passes for it (``isinstance`` still holds).
    References taken before the patch (``from m import f``) keep the original.
    """
    agent_name = _check_name(name)
    options = CallOptions(side_effect=side_effect, key=key)
    if attribute is not None and _inherited_method(obj, attribute):
        # A method of the instance's class: wrap the bound method on this instance only.
        bound = getattr(obj, attribute)
        wrapper = _make_wrapper(agent_name, options, _is_async(bound))(bound)
        setattr(obj, attribute, wrapper)
        return Patch(obj, attribute, _ABSENT, wrapper)
    if attribute is not None:
        owner, original = obj, inspect.getattr_static(obj, attribute)
        target = getattr(obj, attribute)
    elif inspect.isfunction(obj) or inspect.ismethod(obj):
        owner, attribute = _owner_of(obj.__func__ if inspect.ismethod(obj) else obj)
        original, target = inspect.getattr_static(owner, attribute), getattr(owner, attribute)
    elif callable(obj):
        proxy = _CallableAgent(obj, agent_name, options)
        return Patch(None, None, obj, proxy)
    else:
        raise ChaosConfigError(f"wrap() needs a function, method or callable object, got {obj!r}")
    decorator = _make_wrapper(agent_name, options, _is_async(target))
    if isinstance(original, staticmethod | classmethod):
        wrapped: Any = type(original)(decorator(original.__func__))
    else:
        wrapped = decorator(original)
    setattr(owner, attribute, wrapped)
    return Patch(owner, attribute, original, getattr(owner, attribute))


def _inherited_method(obj: Any, attribute: str) -> bool:
    """Whether ``obj.attribute`` is an instance's view of a method defined on its class."""
    if isinstance(obj, type | types.ModuleType):
        return False
    if attribute in getattr(obj, "__dict__", {}):
        return False
    return inspect.ismethod(getattr(obj, attribute, None))


def _callable_agent_type() -> type:
    import wrapt

    class CallableAgent(wrapt.ObjectProxy[Any]):
        """A callable object as an agent: a proxy so ``isinstance`` checks still pass."""

        def __init__(self, wrapped: Any, name: str, options: CallOptions) -> None:
            super().__init__(wrapped)
            self._self_name, self._self_options = name, options
            self._self_async = _is_async(wrapped)

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            run = _active
            if run is None:
                return self.__wrapped__(*args, **kwargs)
            if self._self_async:
                return run.acall(
                    self._self_name, self.__wrapped__, args, kwargs, self._self_options
                )
            return run.call(self._self_name, self.__wrapped__, args, kwargs, self._self_options)

    return CallableAgent


def _CallableAgent(obj: Any, name: str, options: CallOptions) -> Any:  # noqa: N802
    return _callable_agent_type()(obj, name, options)
