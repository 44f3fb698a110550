"""The swarm's language model: seeded and offline by default, any OpenAI-compatible endpoint
when ``OPENAI_BASE_URL`` is set.

Both answer :meth:`complete` with the parsed JSON object a model would return for a structured
output request. The agents validate it like real model output (:mod:`ecommerce_swarm.agents`):
nothing here is trusted. The offline model reads like a copywriter with a small repertoire: its
choices come from a generator seeded by the swarm's seed, the task and the inputs, so one seed
always gives the same words, and asking again with the same inputs gives the same answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from typing import Any, Protocol

from ecommerce_swarm.ontology import category

JSONObject = dict[str, Any]

_OPENINGS = ("Meet", "Say hello to", "Introducing", "Discover", "Welcome")
_QUALITIES = ("durable", "lightweight", "thoughtfully made", "easy to care for", "versatile")
_USES = ("everyday use", "weekend projects", "long days out", "small spaces", "gifting")
_CHANNELS = ("email", "social", "search")
_REVIEW_TEXTS = {
    1: ("Broke within a week.", "Not as described."),
    2: ("Smaller than expected.", "Works, but feels cheap."),
    3: ("Does the job.", "Fine for the price."),
    4: ("Good value, would buy again.", "Solid and well made."),
    5: ("Exactly what I needed.", "Excellent, five stars."),
}


class LanguageModel(Protocol):
    """What the agents need from a model: a JSON object for a task and its inputs."""

    name: str

    def complete(self, task: str, inputs: JSONObject) -> JSONObject: ...


class OfflineModel:
    """Deterministic templates, seeded: fast, offline and reproducible byte for byte."""

    name = "offline"

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def complete(self, task: str, inputs: JSONObject) -> JSONObject:
        writer = getattr(self, f"_{task}", None)
        if writer is None:
            raise ValueError(f"the offline model knows no task {task!r}")
        canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(f"{self.seed}:{task}:{canonical}".encode()).digest()
        result: JSONObject = writer(random.Random(digest), inputs)
        return result

    def _listing(self, rng: random.Random, inputs: JSONObject) -> JSONObject:
        noun = category(inputs["category"]).noun
        sentences = [
            f"{rng.choice(_OPENINGS)} the {inputs['name']}, a {rng.choice(_QUALITIES)} {noun}.",
            f"Made for {rng.choice(_USES)}.",
        ]
        # Higher complexity asks for longer copy, as a merchandiser would.
        sentences += [f"It is {q} and ready for {u}." for q, u in _extra(rng, inputs)]
        return {
            "sku": inputs["sku"],
            "title": f"{inputs['name']} ({inputs['category']})",
            "description": " ".join(sentences),
            "keywords": sorted({inputs["category"], noun, *inputs["name"].lower().split()}),
        }

    def _pricing(self, rng: random.Random, inputs: JSONObject) -> JSONObject:
        markup = rng.choice(category(inputs["category"]).markups)
        cost = float(inputs["cost"])
        return {
            "sku": inputs["sku"],
            "price": round(cost * markup, 2),
            "cost": cost,
            "markup": markup,
        }

    def _marketing(self, rng: random.Random, inputs: JSONObject) -> JSONObject:
        price = float(inputs["price"])
        return {
            "sku": inputs["sku"],
            "headline": f"{rng.choice(_OPENINGS)} {inputs['title']}",
            "body": f"{inputs['description']} Yours for {price:.2f} EUR while stock lasts.",
            "advertised_price": price,
            "channel": rng.choice(_CHANNELS),
        }

    def _feedback(self, rng: random.Random, inputs: JSONObject) -> JSONObject:
        reviews = []
        for _ in range(int(inputs["count"])):
            rating = rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 3, 6, 5))[0]
            reviews.append({"rating": rating, "text": rng.choice(_REVIEW_TEXTS[rating])})
        return {"sku": inputs["sku"], "reviews": reviews}

    def _summary(self, rng: random.Random, inputs: JSONObject) -> JSONObject:
        mood = rng.choice(("steady", "healthy", "promising"))
        return {
            "summary": f"{inputs['products']} products, {inputs['units']} units available, "
            f"stock worth {inputs['value']:.2f} EUR: a {mood} week."
        }


def _extra(rng: random.Random, inputs: JSONObject) -> list[tuple[str, str]]:
    count = {"low": 0, "medium": 1, "high": 2}[inputs.get("complexity", "low")]
    return [(rng.choice(_QUALITIES), rng.choice(_USES)) for _ in range(count)]


class EndpointModel:
    """An OpenAI-compatible endpoint through the OpenAI SDK (``pip install .[llm]``).

    The client goes through :func:`pytest_agentchaos.integrations.openai.chaos_client`, so a
    chaos run's LLM faults act at its HTTP transport and the SDK's own retries are exercised.
    """

    name = "endpoint"

    def __init__(
        self, base_url: str, api_key: str, *, client_name: str, model: str = "gpt-4o-mini"
    ) -> None:
        from pytest_agentchaos.integrations.openai import chaos_client

        self.model = model
        self.client = chaos_client(
            base_url=base_url, api_key=api_key, name=client_name, max_retries=2
        )

    def complete(self, task: str, inputs: JSONObject) -> JSONObject:
        prompt = (
            f"Task: {task}. Answer with one JSON object only, with the fields the task needs, "
            f"for these inputs: {json.dumps(inputs, sort_keys=True)}"
        )
        response = self.client.chat.completions.create(
            model=self.model,
            messages=[{"role": "user", "content": prompt}],
            response_format={"type": "json_object"},
            temperature=0,
        )
        content = response.choices[0].message.content or ""
        parsed = json.loads(content)
        if not isinstance(parsed, dict):
            raise ValueError(f"the model answered {type(parsed).__name__}, not a JSON object")
        return parsed


def default_model(seed: int, agent: str) -> LanguageModel:
    """``agent``'s model: the endpoint when ``OPENAI_BASE_URL`` is set (a client named
    ``<agent>.llm``, the target of LLM faults), else the seeded offline one."""
    base_url = os.environ.get("OPENAI_BASE_URL")
    if base_url:
        key = os.environ.get("OPENAI_API_KEY", "unused")
        return EndpointModel(base_url, key, client_name=f"{agent}.llm")
    return OfflineModel(seed)
