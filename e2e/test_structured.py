"""Structured output through the real clients: every answer parses and validates, whatever
the seed, at temperature 1.0, on the default pack's local models."""
import datetime
import enum
import json
import re
import typing
import uuid

import jsonschema
import openai
import pydantic
import pytest
import typing_extensions
from langchain_nvidia_ai_endpoints import ChatNVIDIA

SMALL = "meta/llama-3.1-8b-instruct"   # SmolLM2-135M in the default pack
LARGE = "meta/llama-3.3-70b-instruct"  # Qwen2.5-Coder-0.5B in the default pack

OBJ = {"type": "object"}


def obj(props, required=None, **kw):
    return {"type": "object", "properties": props,
            "required": list(props) if required is None else required, **kw}


STR = {"type": "string", "maxLength": 24}

# (name, schema): at least 30, covering every feature the issue lists.
SCHEMAS = [
    ("any_object", OBJ),
    ("flat", obj({"name": STR, "age": {"type": "integer"}})),
    ("booleans", obj({"ok": {"type": "boolean"}, "done": {"type": "boolean"}})),
    ("number_range", obj({"t": {"type": "number", "minimum": -5, "maximum": 5}})),
    ("int_exclusive", obj({"n": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10}})),
    ("nested", obj({"user": obj({"id": {"type": "integer"}, "name": STR})})),
    ("deep", obj({"a": obj({"b": obj({"c": obj({"d": {"type": "boolean"}})})})})),
    ("array_bounds", obj({"xs": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 4}})),
    ("array_of_objects", obj({"items": {"type": "array", "maxItems": 3,
                                        "items": obj({"sku": STR, "qty": {"type": "integer", "minimum": 1}})}})),
    ("enum", obj({"colour": {"enum": ["red", "green", "blue"]}})),
    ("enum_mixed", obj({"v": {"enum": [1, "two", None, True]}})),
    ("const", obj({"kind": {"const": "invoice"}, "n": {"type": "integer"}})),
    ("any_of", obj({"v": {"anyOf": [{"type": "integer"}, STR]}})),
    ("one_of", obj({"shape": {"oneOf": [
        obj({"kind": {"const": "circle"}, "r": {"type": "number", "minimum": 0}}),
        obj({"kind": {"const": "square"}, "side": {"type": "number", "minimum": 0}})]}})),
    ("ref_defs", {"$defs": {"pt": obj({"x": {"type": "integer"}, "y": {"type": "integer"}})},
                  **obj({"a": {"$ref": "#/$defs/pt"}, "b": {"$ref": "#/$defs/pt"}})}),
    ("recursive_ref", {"$defs": {"node": obj({"v": {"type": "integer"},
                                              "kids": {"type": "array", "maxItems": 2,
                                                       "items": {"$ref": "#/$defs/node"}}},
                                             required=["v"])},
                       "$ref": "#/$defs/node"}),
    ("pattern", obj({"code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"}})),
    ("pattern_phone", obj({"phone": {"type": "string", "pattern": "^\\+[0-9]{2} [0-9]{6,8}$"}})),
    ("format_date", obj({"d": {"type": "string", "format": "date"}})),
    ("format_date_time", obj({"ts": {"type": "string", "format": "date-time"}})),
    ("format_email", obj({"email": {"type": "string", "format": "email"}})),
    ("format_uuid", obj({"id": {"type": "string", "format": "uuid"}})),
    ("string_lengths", obj({"s": {"type": "string", "minLength": 3, "maxLength": 6}})),
    ("closed", obj({"a": {"type": "integer"}}, additionalProperties=False)),
    ("optional", obj({"must": {"type": "integer"}, "may": STR}, required=["must"])),
    ("nullable", obj({"v": {"type": ["integer", "null"]}, "w": {"anyOf": [STR, {"type": "null"}]}})),
    ("top_array", {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 5}),
    ("top_enum", {"enum": ["alpha", "beta", "gamma"]}),
    ("top_integer", {"type": "integer", "minimum": 10, "maximum": 99}),
    ("top_string_pattern", {"type": "string", "pattern": "^[a-z]+$", "maxLength": 10}),
    ("mixed_everything", {
        "$defs": {"addr": obj({"city": STR, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}})},
        **obj({
            "id": {"type": "string", "format": "uuid"},
            "when": {"type": "string", "format": "date"},
            "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3},
            "home": {"$ref": "#/$defs/addr"},
            "work": {"anyOf": [{"$ref": "#/$defs/addr"}, {"type": "null"}]},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
        }),
    }),
    ("pydantic_like_titles", {"title": "Person", "type": "object", "properties": {
        "name": {"title": "Name", "type": "string", "maxLength": 20},
        "email": {"title": "Email", "anyOf": [{"type": "string", "format": "email"}, {"type": "null"}],
                  "default": None}}, "required": ["name"]}),
]


def validate(schema, text):
    value = json.loads(text)
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(value)
    # jsonschema checks date-time only with optional packages: check it here.
    _check_date_times(schema, value)
    return value


def _check_date_times(schema, value):
    if isinstance(schema, dict):
        if schema.get("format") == "date-time" and isinstance(value, str):
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        props = schema.get("properties", {})
        if isinstance(value, dict):
            for k, v in value.items():
                if k in props:
                    _check_date_times(props[k], v)


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def bounded(schema):
    """Whether every string in the schema has a length limit (the 135M model, sampled at
    temperature 1.0, may otherwise write one string until `max_tokens`)."""
    if isinstance(schema, list):
        return all(bounded(s) for s in schema)
    if not isinstance(schema, dict):
        return True
    if schema == OBJ:
        return False
    types = schema.get("type")
    types = types if isinstance(types, list) else [types]
    if "string" in types and not ({"maxLength", "enum", "const", "pattern"} & set(schema)
                                  or schema.get("format") in ("date", "date-time", "uuid", "email")):
        return False
    return all(bounded(v) for k, v in schema.items() if k not in ("enum", "const", "default"))


def test_thirty_schemas_always_validate(client):
    assert len(SCHEMAS) >= 30
    failures = []
    runs = 0
    for name, schema in SCHEMAS:
        for model in (LARGE, SMALL) if bounded(schema) else (LARGE,):
            for seed in (1,):  # three choices, each with its own seed
                r = client.chat.completions.create(
                    model=model, temperature=1.0, seed=seed, n=3, max_tokens=400,
                    messages=[{"role": "user", "content": f"Produce a JSON value for '{name}'."}],
                    response_format={"type": "json_schema",
                                     "json_schema": {"name": name, "schema": schema, "strict": True}})
                for c in r.choices:
                    runs += 1
                    try:
                        assert c.finish_reason == "stop", c.finish_reason
                        validate(schema, c.message.content)
                    except Exception as e:  # collect them all, then fail once
                        failures.append(f"{name} {model} seed {seed}: {e!r}: {c.message.content!r}")
    assert not failures, "\n".join(failures)
    assert runs >= 150


def test_every_request_field_constrains(client):
    schema = obj({"answer": {"type": "integer"}})
    msgs = [{"role": "user", "content": "What is 2 + 2? Answer in JSON."}]
    for extra in ({"guided_json": schema}, {"nvext": {"guided_json": schema}},
                  {"guided_json": json.dumps(schema)}, {"structured_outputs": {"json": schema}}):
        r = client.chat.completions.create(model=SMALL, messages=msgs, max_tokens=60,
                                           temperature=1.0, seed=3, extra_body=extra)
        validate(schema, r.choices[0].message.content)
    r = client.chat.completions.create(model=SMALL, messages=msgs, max_tokens=200, seed=4,
                                       response_format={"type": "json_object"})
    assert isinstance(json.loads(r.choices[0].message.content), dict)


def test_guided_choice_only_answers_from_its_list(client):
    choices = ["positive", "negative", "neutral"]
    for extra in ({"guided_choice": choices}, {"nvext": {"guided_choice": choices}},
                  {"structured_outputs": {"choice": choices}}):
        for seed in range(3):
            r = client.chat.completions.create(
                model=SMALL, temperature=1.5, seed=seed, max_tokens=20, extra_body=extra,
                messages=[{"role": "user", "content": "Sentiment of: 'what a lovely day'"}])
            assert r.choices[0].message.content in choices
            assert r.choices[0].finish_reason == "stop"


def test_guided_regex_and_grammar_fully_match(client):
    rx = r"[0-9]{3}-[0-9]{3}-[0-9]{4}"
    for extra in ({"guided_regex": rx}, {"structured_outputs": {"regex": rx}}):
        r = client.chat.completions.create(
            model=SMALL, temperature=1.0, seed=5, max_tokens=60, extra_body=extra,
            messages=[{"role": "user", "content": "A US phone number, please."}])
        assert re.fullmatch(rx, r.choices[0].message.content)
    lark = 'start: "It is " ANSWER "."\nANSWER: "yes" | "no"'
    r = client.chat.completions.create(
        model=SMALL, temperature=1.0, seed=6, max_tokens=30, extra_body={"guided_grammar": lark},
        messages=[{"role": "user", "content": "Is the sky blue?"}])
    assert r.choices[0].message.content in ("It is yes.", "It is no.")


def test_streamed_constrained_output_equals_the_whole(client):
    schema = obj({"city": STR, "population": {"type": "integer", "minimum": 0}})
    kw = dict(model=LARGE, temperature=1.0, seed=11, max_tokens=80,
              messages=[{"role": "user", "content": "A city and its population, as JSON."}],
              response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
              logprobs=True, top_logprobs=2)
    whole = client.chat.completions.create(**kw)
    chunks = list(client.chat.completions.create(stream=True, **kw))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    validate(schema, text)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert "".join(t.token for t in whole.choices[0].logprobs.content) == text


def test_openai_parse_with_pydantic(client):
    class Step(pydantic.BaseModel):
        explanation: str = pydantic.Field(max_length=60)
        output: str = pydantic.Field(max_length=20)

    class Maths(pydantic.BaseModel):
        steps: typing.List[Step] = pydantic.Field(max_length=2)
        final_answer: str = pydantic.Field(max_length=20)
        confident: bool

    for model in (SMALL, LARGE):
        r = client.beta.chat.completions.parse(
            model=model, temperature=1.0, seed=2, max_tokens=300, response_format=Maths,
            messages=[{"role": "user", "content": "Solve 8x + 7 = -23 step by step."}])
        parsed = r.choices[0].message.parsed
        assert isinstance(parsed, Maths), r.choices[0].message.content
        assert len(parsed.steps) <= 2


def test_invalid_schemas_and_conflicts_are_400s_naming_the_field(client):
    msgs = [{"role": "user", "content": "hi"}]
    cases = [
        ({"guided_json": {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}},
         "guided_json"),
        ({"nvext": {"guided_regex": "(unclosed"}}, "nvext.guided_regex"),
        ({"guided_grammar": "root ::= \"a\""}, "guided_grammar"),
        ({"guided_regex": "a", "guided_choice": ["b"]}, ("guided_regex", "guided_choice")),
        ({"response_format": {"type": "json_schema",
                              "json_schema": {"name": "x", "schema": {"type": "nope"}}}},
         "response_format.json_schema.schema"),
    ]
    for extra, field in cases:
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model=SMALL, messages=msgs, max_tokens=5,
                                           extra_body=extra)
        assert e.value.status_code == 400
        assert e.value.body["param"] in (field if isinstance(field, tuple) else (field,)), e.value.body


class Joke(pydantic.BaseModel):
    setup: str = pydantic.Field(description="the question", max_length=80)
    punchline: str = pydantic.Field(description="the answer", max_length=80)


class JokeDict(typing_extensions.TypedDict):
    setup: str
    punchline: str


class Mood(enum.Enum):
    HAPPY = "happy"
    SAD = "sad"
    ANGRY = "angry"


def test_langchain_with_structured_output(server):
    llm = ChatNVIDIA(base_url=server.base_url, model=LARGE, api_key="unused", max_tokens=300,
                     temperature=1.0, seed=7)
    joke = llm.with_structured_output(Joke).invoke("Tell me a joke about GPUs.")
    assert isinstance(joke, Joke)
    streamed = list(llm.with_structured_output(Joke).stream("Tell me a joke about GPUs."))
    assert streamed and isinstance(streamed[-1], Joke)
    schema = pydantic.TypeAdapter(JokeDict).json_schema()
    d = llm.with_structured_output(schema).invoke("Tell me a joke about CPUs.")
    assert set(d) == {"setup", "punchline"}
    mood = llm.with_structured_output(Mood).invoke("I just won the lottery! How do I feel?")
    assert isinstance(mood, Mood)
    moods = list(llm.with_structured_output(Mood).stream("My dog ate my homework."))
    assert moods and isinstance(moods[-1], Mood)
