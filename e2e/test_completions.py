"""Text completions and reranking through the real clients on the default pack: openai-python's
`completions.create`, LangChain's `NVIDIA` completion model and `NVIDIARerank`."""
import ast
import json
import os

import openai
import pytest
from langchain_core.documents import Document
from langchain_nvidia_ai_endpoints import NVIDIA, NVIDIARerank

SMALL = "meta/llama-3.1-8b-instruct"  # SmolLM2-135M: no fill-in-the-middle tokens
CODE = "bigcode/starcoder2-7b"        # Qwen2.5-Coder-0.5B: <|fim_prefix|> … <|fim_middle|>
RANK = "nvidia/llama-3.2-nv-rerankqa-1b-v2"
RELEVANCE = os.path.join(os.path.dirname(__file__), "..", "bench", "ranking", "relevance.json")


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def test_openai_completions_n_echo_logprobs_and_stream(client):
    r = client.completions.create(model=SMALL, prompt=["The capital of France is", "1, 2, 3,"],
                                  n=2, max_tokens=6, temperature=0, logprobs=2)
    assert r.object == "text_completion" and len(r.choices) == 4
    assert [c.index for c in r.choices] == [0, 1, 2, 3]
    for c in r.choices:
        lp = c.logprobs
        assert "".join(lp.tokens) == c.text
        assert len(lp.token_logprobs) == len(lp.tokens) == len(lp.text_offset) == len(lp.top_logprobs)
        assert all(2 <= len(t) <= 3 for t in lp.top_logprobs)
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens

    e = client.completions.create(model=SMALL, prompt="Once upon a time", echo=True,
                                  max_tokens=5, temperature=0)
    assert e.choices[0].text.startswith("Once upon a time")

    whole = client.completions.create(model=SMALL, prompt="Water boils at", max_tokens=8,
                                      temperature=0)
    pieces, usage, finish = [], None, None
    for chunk in client.completions.create(model=SMALL, prompt="Water boils at", max_tokens=8,
                                           temperature=0, stream=True,
                                           stream_options={"include_usage": True}):
        for c in chunk.choices:
            pieces.append(c.text)
            finish = c.finish_reason or finish
        usage = chunk.usage or usage
    assert "".join(pieces) == whole.choices[0].text
    assert finish == whole.choices[0].finish_reason
    assert usage.completion_tokens == whole.usage.completion_tokens

    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model=SMALL, prompt="x", suffix="y", max_tokens=4)
    assert "fill-in-the-middle" in str(err.value)


def test_fill_in_the_middle_writes_python_that_parses(client):
    # As editors do, the gap ends at a blank line: the model would go on to write its own
    # copy of what follows.
    prefix = "def average(numbers):\n    "
    suffix = "\n\nprint(average([1, 2, 3]))\n"
    r = client.completions.create(model=CODE, prompt=prefix, suffix=suffix, max_tokens=48,
                                  temperature=0, stop=["\n\n"])
    middle = r.choices[0].text
    assert "return" in middle and r.choices[0].finish_reason == "stop", middle
    tree = ast.parse(prefix + middle + suffix)
    assert isinstance(tree.body[0], ast.FunctionDef) and tree.body[0].name == "average"


def test_langchain_nvidia_completion_model(server):
    llm = NVIDIA(base_url=server.base_url, model=CODE, api_key="unused", max_tokens=24,
                 temperature=0)
    text = llm.invoke("# a Python function that returns the square of x\ndef square(x):\n")
    assert "return" in text, text
    streamed = "".join(llm.stream("# a Python function that returns the square of x\ndef square(x):\n"))
    assert streamed == text


def test_langchain_nvidia_rerank_puts_the_answer_first(server):
    with open(RELEVANCE) as f:
        items = json.load(f)
    ranker = NVIDIARerank(base_url=server.base_url, model=RANK, api_key="unused", top_n=3,
                          truncate="END")
    first = 0
    for q, item in enumerate(items):
        docs = [Document(page_content=t) for t in item["distractors"]]
        docs.insert(q % (len(docs) + 1), Document(page_content=item["relevant"]))
        out = ranker.compress_documents(documents=docs, query=item["query"])
        assert len(out) == 3
        scores = [d.metadata["relevance_score"] for d in out]
        assert scores == sorted(scores, reverse=True)
        first += out[0].page_content == item["relevant"]
    # all-MiniLM-L6-v2 puts the answer first for 44 of the 52 queries (docs/benchmarks.md).
    assert first >= 0.75 * len(items), f"relevant passage first for {first} of {len(items)}"


def test_openai_client_reaches_ranking_as_a_raw_post(server):
    # openai-python has no ranking method; its generic `post` sends the NIM body as is.
    c = openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)
    body = {"model": RANK, "query": {"text": "What is the boiling point of water?"},
            "passages": [{"text": "Ice melts at zero degrees."},
                         {"text": "Water boils at 100 degrees Celsius at sea level."}]}
    r = c.post("/ranking", body=body, cast_to=object)
    assert [x["index"] for x in r["rankings"]] == [1, 0]
    with pytest.raises(openai.UnprocessableEntityError):
        c.post("/ranking", body={**body, "passages": []}, cast_to=object)
