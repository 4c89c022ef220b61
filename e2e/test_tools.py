"""Tool calls through the real clients on the default pack's local models."""
import json

import openai
import pydantic
import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_nvidia_ai_endpoints import ChatNVIDIA

LARGE = "meta/llama-3.3-70b-instruct"  # Qwen2.5-Coder-0.5B: Hermes <tool_call> format
SMALL = "meta/llama-3.1-8b-instruct"   # SmolLM2-135M: no tool support in its template

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city", "strict": True,
    "parameters": {"type": "object", "additionalProperties": False,
                   "properties": {"city": {"type": "string", "maxLength": 30},
                                  "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                   "required": ["city", "unit"]}}}


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=server.base_url, api_key="unused", max_retries=0)


def test_openai_required_tool_call_then_round_trip(client):
    for model in (LARGE, SMALL):
        msgs = [{"role": "user", "content": "What is the weather in Paris?"}]
        # One call: the 135M model, free to call again, may repeat the call until max_tokens.
        r = client.chat.completions.create(model=model, messages=msgs, tools=[WEATHER],
                                           tool_choice="required", parallel_tool_calls=False,
                                           max_tokens=100, seed=1)
        c = r.choices[0]
        assert c.finish_reason == "tool_calls"
        call = c.message.tool_calls[0]
        assert call.type == "function" and call.function.name == "get_weather"
        args = json.loads(call.function.arguments)
        assert set(args) == {"city", "unit"} and args["unit"] in ("celsius", "fahrenheit")
        # The call and its result go back through the model's template; it answers in text.
        msgs += [c.message.model_dump(exclude_none=True),
                 {"role": "tool", "tool_call_id": call.id, "content": "21 degrees and sunny"}]
        final = client.chat.completions.create(model=model, messages=msgs, tools=[WEATHER],
                                               tool_choice="none", max_tokens=40, seed=1)
        assert final.choices[0].finish_reason in ("stop", "length")
        assert final.choices[0].message.content
        assert not final.choices[0].message.tool_calls


def test_openai_streamed_tool_call_deltas(client):
    kw = dict(model=LARGE, tools=[WEATHER], max_tokens=100, seed=3,
              tool_choice={"type": "function", "function": {"name": "get_weather"}},
              messages=[{"role": "user", "content": "Weather in Oslo, in fahrenheit?"}])
    whole = client.chat.completions.create(**kw).choices[0].message.tool_calls[0]
    chunks = list(client.chat.completions.create(stream=True, **kw))
    deltas = [d for c in chunks if c.choices for d in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id and deltas[0].type == "function"
    assert deltas[0].function.name == "get_weather"
    assert all(d.index == 0 for d in deltas)
    assert len(deltas) > 2, "arguments arrive in pieces"
    assert "".join(d.function.arguments or "" for d in deltas) == whole.function.arguments
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_openai_parse_with_pydantic_function_tool(client):
    class GetWeather(pydantic.BaseModel):
        city: str = pydantic.Field(max_length=30)
        days: int = pydantic.Field(ge=1, le=7)

    r = client.beta.chat.completions.parse(
        model=LARGE, max_tokens=100, seed=5, tool_choice="required",
        tools=[openai.pydantic_function_tool(GetWeather)],
        messages=[{"role": "user", "content": "Three-day forecast for Rome."}])
    call = r.choices[0].message.tool_calls[0]
    assert isinstance(call.function.parsed_arguments, GetWeather)


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"It is 21 degrees and sunny in {city}."


@tool
def get_population(city: str) -> int:
    """Number of people living in a city."""
    return 2_100_000


def test_langchain_bind_tools_invoke_stream_and_named_choice(server):
    llm = ChatNVIDIA(base_url=server.base_url, model=LARGE, api_key="unused", max_tokens=100,
                     seed=4)
    forced = llm.bind_tools([get_weather, get_population], tool_choice="get_population")
    msg = forced.invoke("How many people live in Lyon?")
    assert [c["name"] for c in msg.tool_calls] == ["get_population"]
    assert isinstance(msg.tool_calls[0]["args"]["city"], str)
    total = None
    for chunk in forced.stream("How many people live in Lyon?"):
        total = chunk if total is None else total + chunk
    assert [c["name"] for c in total.tool_calls] == ["get_population"]
    assert total.tool_calls[0]["args"] == msg.tool_calls[0]["args"]
    required = llm.bind_tools([get_weather], tool_choice="required")
    assert required.invoke("Weather in Lima?").tool_calls[0]["name"] == "get_weather"


def test_langchain_agent_loop_two_calls_then_an_answer(server):
    llm = ChatNVIDIA(base_url=server.base_url, model=LARGE, api_key="unused", max_tokens=120,
                     seed=8)
    tools = {"get_weather": get_weather, "get_population": get_population}
    messages = [HumanMessage("What is the weather in Lyon, and how many people live there?")]
    for name in ("get_weather", "get_population"):
        ai = llm.bind_tools(list(tools.values()), tool_choice=name).invoke(messages)
        assert ai.tool_calls and ai.tool_calls[0]["name"] == name
        messages.append(ai)
        for call in ai.tool_calls:
            result = tools[call["name"]].invoke(call["args"])
            messages.append(ToolMessage(str(result), tool_call_id=call["id"]))
    answer = llm.bind_tools(list(tools.values()), tool_choice="none").invoke(messages)
    assert answer.content and not answer.tool_calls
