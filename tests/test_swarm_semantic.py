"""The semantic handshake and its embedders: MiniLM (loaded once for this module) resolves the
ontology's terms; the lexical fallback says what it is; docs/semantic.md shows true scores."""

from __future__ import annotations

import re
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest

from ecommerce_swarm import Swarm, load_scenario
from ecommerce_swarm.handshake import ACCEPT, REJECT, verdict
from ecommerce_swarm.ontology import CONFLICTS, DEFINITIONS, SAME_CONCEPT
from pytest_agentchaos.semantic import (
    LexicalEmbedder,
    MiniLMEmbedder,
    embedder,
    minilm_available,
)

DOC = Path(__file__).resolve().parent.parent / "docs" / "semantic.md"
needs_minilm = pytest.mark.skipif(not minilm_available(), reason="semantic extra not installed")


def text(term: str) -> str:
    return f"{term}: {DEFINITIONS[term]}"


@pytest.fixture(scope="module")
def minilm() -> MiniLMEmbedder:
    model = MiniLMEmbedder()
    model.embed(["load the model once for this module"])
    return model


def agreements(embedding) -> dict:
    scenario = load_scenario("product_launch_campaign").with_volume(1)
    with Swarm(scenario, seed=1, embedder_kind=embedding) as swarm:
        swarm.run()
        # marketing's inputs come from inventory, analytics' from pricing: both handshakes ran
        return dict(swarm.agreements)


@needs_minilm
def test_minilm_resolves_the_ontologys_terms_in_the_handshakes(minilm):
    found = agreements(minilm)
    inventory, pricing = found["marketing"], found["analytics"]
    assert inventory.embedder.startswith("all-MiniLM-L6-v2")
    assert inventory.mapping == {"stock keeping unit": "product code"}
    assert inventory.verdicts["quantity on hand"] == "conflict"  # flagged, then negotiated
    assert set(inventory.kept_apart) == {"quantity on hand"}
    assert pricing.mapping == {"SKU": "stock keeping unit"}
    assert pricing.verdicts["margin"] == "conflict"
    assert set(pricing.kept_apart) == {"list price", "margin"}


@needs_minilm
def test_minilm_scores_merge_exactly_the_same_concepts(minilm):
    for a, b in combinations(DEFINITIONS, 2):
        score = minilm.similarity(text(a), text(b))
        pair = frozenset((a, b))
        assert (score >= ACCEPT) == (pair in SAME_CONCEPT), (a, b, score)
        if pair in CONFLICTS:
            assert verdict(score) == "conflict", (a, b, score)


def test_the_lexical_fallback_says_what_it_is_and_misses_a_conflict():
    lexical = embedder("lexical")
    assert "not a language model" in lexical.name
    assert lexical.similarity("price", "prices") > 0.5
    assert lexical.similarity("SKU", "stock keeping unit") == 0.0  # spelling, not meaning
    found = agreements("lexical")
    assert found["marketing"].verdicts["quantity on hand"] == "none"  # MiniLM: conflict
    assert found["analytics"].mapping == {"SKU": "stock keeping unit"}


def test_an_unknown_embedder_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown embedder 'bert'; choose auto, minilm or lexical"):
        embedder("bert")


def test_importing_the_semantic_module_loads_no_torch():
    code = (
        "import sys, pytest_agentchaos.semantic as s; s.embedder('lexical').embed(['x']); "
        "print(sorted(m for m in ('torch', 'sentence_transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@needs_minilm
def test_the_docs_show_the_scores_both_embedders_give(minilm):
    lexical = LexicalEmbedder()
    rows = re.findall(
        r"^\| (.+?) ~ (.+?) \| \w+ \| ([\d.]+) \| ([\d.]+) \|", DOC.read_text(), re.MULTILINE
    )
    assert len(rows) >= 6
    for a, b, shown_minilm, shown_lexical in rows:
        assert abs(minilm.similarity(text(a), text(b)) - float(shown_minilm)) < 0.01, (a, b)
        assert abs(lexical.similarity(text(a), text(b)) - float(shown_lexical)) < 0.001, (a, b)
    assert f"{ACCEPT}" in DOC.read_text()
    assert f"{REJECT}" in DOC.read_text()


def test_a_malformed_handshake_init_is_refused_by_the_receiver():
    from pytest_agentchaos import DeliveryError, Message, MessageType

    scenario = load_scenario("product_launch_campaign").with_volume(1)
    with Swarm(scenario, seed=1) as swarm:
        bad = Message.create(
            MessageType.REQUEST_CONTEXT,
            "inventory",
            "marketing",
            task="handshake.init",
            parameters={"embeddings": {"stock keeping unit": "not a vector"}},
        )
        with pytest.raises(DeliveryError, match="'marketing' failed handling REQUEST_CONTEXT"):
            swarm.bus.request(bad, timeout=0.5)
