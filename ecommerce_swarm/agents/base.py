"""What every agent shares: a small LangGraph graph behind a bus handler.

An agent receives a TASK_ASSIGN over the bus, checks it (the envelope's hash, the task name, each
item against its pydantic model), asks its model for each item, validates what the model said
like any untrusted output (pydantic, then the business invariants) and replies TASK_COMPLETE with
its outputs or TASK_FAIL with the reason. Those three steps are the nodes of its graph
(``receive -> work -> verify``), checkpointed in SQLite under the message id as thread.

Agents hold no chaos code: faults reach them from outside (the bus, the instrumented workflow
graph, the wrapped or instrumented model client).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ValidationError

from ecommerce_swarm.invariants import InvariantViolation
from ecommerce_swarm.llm import JSONObject, LanguageModel
from pytest_agentchaos.protocol import ContractViolation, Message, MessageType, validate_message


class TaskState(TypedDict, total=False):
    items: list[JSONObject]
    outputs: list[JSONObject]
    error: str | None


class TaskRejected(ValueError):
    """An item, or the model's answer for it, failed validation; the agent replies TASK_FAIL."""


class Agent:
    """Base of the six agents; a subclass names itself, its task and its models."""

    name: ClassVar[str]
    task: ClassVar[str]
    input_model: ClassVar[type[BaseModel]]
    output_model: ClassVar[type[BaseModel]]

    #: How many times an agent asks its model for one item before it gives up on the task.
    max_asks: ClassVar[int] = 3

    def __init__(self, model: LanguageModel, saver: BaseCheckpointSaver[Any], complexity: str):
        self.model = model
        self.complexity = complexity
        #: Called with (agent, reason) whenever the agent refuses a model's answer: an
        #: observability hook (logging, metrics, a chaos run's detector).
        self.rejection_observers: list[Callable[[str, str], None]] = []
        self.tasks_handled = 0
        # An idempotent receiver: a redelivered task gets the first answer, not a second run.
        self._answered: dict[str, Message] = {}
        self.graph = self._build(saver)

    # ------------------------------------------------------------------- the graph
    def _build(self, saver: BaseCheckpointSaver[Any]) -> Any:
        graph = StateGraph(TaskState)
        graph.add_node("receive", self._receive)
        graph.add_node("work", self._work)
        graph.add_node("verify", self._verify)
        graph.add_edge(START, "receive")
        graph.add_conditional_edges("receive", _next_unless_failed("work"), ["work", END])
        graph.add_conditional_edges("work", _next_unless_failed("verify"), ["verify", END])
        graph.add_edge("verify", END)
        return graph.compile(checkpointer=saver, name=self.name)

    def _receive(self, state: TaskState) -> TaskState:
        try:
            for item in state["items"]:
                self.input_model.model_validate(item)
        except ValidationError as error:
            return {"error": f"{self.name} rejected its input: {_first_error(error)}"}
        return {"error": None}

    def _work(self, state: TaskState) -> TaskState:
        items = [self.input_model.model_validate(item) for item in state["items"]]
        try:
            outputs = self.produce_all(items)
        except (ValidationError, TaskRejected, ValueError) as error:
            return {"error": f"{self.name}: model output rejected: {_describe(error)}"}
        return {"outputs": [output.model_dump(mode="json") for output in outputs]}

    def _verify(self, state: TaskState) -> TaskState:
        items = [self.input_model.model_validate(item) for item in state["items"]]
        outputs = [self.output_model.model_validate(o) for o in state["outputs"]]
        try:
            self.check_all(outputs, items)
        except InvariantViolation as violation:
            return {"error": f"{self.name}: invariant broken: {violation}"}
        return {"error": None}

    # ----------------------------------------------------------- what subclasses write
    def produce_all(self, items: Sequence[Any]) -> list[BaseModel]:
        return [self.produce(item) for item in items]

    def produce(self, item: Any) -> BaseModel:
        """The checked output for one item: the model's answer, re-asked when it fails."""
        task, inputs = self.prompt(item)
        problem = ""
        for _ in range(self.max_asks):
            try:
                output = self.parse(self.ask(task, inputs), item)
                self.check(output, item)
                return output
            except ValueError as error:  # pydantic's ValidationError and InvariantViolation
                problem = _describe(error)
                for observe in self.rejection_observers:
                    observe(self.name, problem)
        raise TaskRejected(f"no valid answer in {self.max_asks} asks; last: {problem}")

    def prompt(self, item: Any) -> tuple[str, JSONObject]:
        """The model task and inputs for one item."""
        raise NotImplementedError

    def parse(self, answer: JSONObject, item: Any) -> BaseModel:
        return self.output_model.model_validate(answer)

    def check_all(self, outputs: Sequence[Any], items: Sequence[Any]) -> None:
        for output, item in zip(outputs, items, strict=True):
            self.check(output, item)

    def check(self, output: Any, item: Any) -> None:
        """Raise :class:`InvariantViolation` when ``output`` breaks a business rule."""

    def ask(self, task: str, inputs: JSONObject) -> JSONObject:
        """The model's answer, which must at least be a JSON object."""
        answer = self.model.complete(task, inputs)
        if not isinstance(answer, dict):
            raise TaskRejected(f"the model answered {type(answer).__name__}, not an object")
        return answer

    # -------------------------------------------------------------- the bus handler
    def handle(self, message: Message) -> Message:
        """Answer one TASK_ASSIGN; anything else addressed to this agent is refused."""
        try:
            validate_message(message)
        except ContractViolation as violation:
            return message.reply(
                MessageType.TASK_FAIL, task=message.body.task, parameters={"reason": str(violation)}
            )
        if message.header.type is not MessageType.TASK_ASSIGN or message.body.task != self.task:
            reason = (
                f"{self.name} accepts TASK_ASSIGN {self.task!r}, got "
                f"{message.header.type.value} {message.body.task!r}"
            )
            return message.reply(
                MessageType.TASK_FAIL, task=message.body.task, parameters={"reason": reason}
            )
        items = message.body.parameters.get("items")
        if not isinstance(items, list):
            return message.reply(
                MessageType.TASK_FAIL,
                task=self.task,
                parameters={"reason": "parameters.items must be a list"},
            )
        seen = self._answered.get(message.header.message_id)
        if seen is not None:
            return seen
        self.tasks_handled += 1
        config = {"configurable": {"thread_id": f"{self.name}:{message.header.message_id}"}}
        state = self.graph.invoke({"items": items, "error": None}, config, durability="exit")
        if state.get("error"):
            return message.reply(
                MessageType.TASK_FAIL, task=self.task, parameters={"reason": state["error"]}
            )
        reply = message.reply(
            MessageType.TASK_COMPLETE, task=self.task, parameters={"outputs": state["outputs"]}
        )
        self._answered[message.header.message_id] = reply
        return reply


def _next_unless_failed(step: str) -> Any:
    def route(state: TaskState) -> str:
        return END if state.get("error") else step

    return route


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "value"
    return f"{where}: {first['msg']} (got {first.get('input')!r})"


def _describe(error: Exception) -> str:
    return _first_error(error) if isinstance(error, ValidationError) else str(error)
