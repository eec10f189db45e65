#!/usr/bin/env python3
"""The official `openai` Python client against `redflag serve`.

Starts `redflag serve --port 0` (binary: $REDFLAG_BIN, else .build/release/redflag), reads the port it prints,
and with the client runs a chat completion, a streamed chat completion, a completion, and a guarded request
that must end with finish_reason "content_filter" and carry the `redflag` extension field. Exit status 0 on
success; every check prints one line.
"""
import os
import re
import subprocess
import sys
import time

import openai

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_server():
    binary = os.environ.get("REDFLAG_BIN", os.path.join(ROOT, ".build/release/redflag"))
    cmd = [binary, "serve", "--port", "0", "-t", "2", "--api-key", "check-key", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=sys.stderr, text=True)
    line = proc.stdout.readline()
    m = re.search(r"listening on http://([^ ]+):(\d+)", line)
    if not m:
        proc.kill()
        sys.exit(f"FAIL: server did not print its address (got {line!r})")
    return proc, int(m.group(2))


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        raise SystemExit(1)


def main():
    proc, port = start_server()
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="check-key", max_retries=0, timeout=120)
        models = client.models.list()
        check(len(models.data) == 1, f"models.list: {[m.id for m in models.data]}")
        model = models.data[0].id

        t0 = time.time()
        chat = client.chat.completions.create(
            model=model, max_tokens=16,
            messages=[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is the capital of France?"}])
        text = chat.choices[0].message.content
        check(chat.object == "chat.completion" and chat.choices[0].message.role == "assistant" and len(text) > 0,
              f"chat.completions.create ({time.time() - t0:.2f} s): {text!r}, finish_reason={chat.choices[0].finish_reason}")
        check(chat.usage.completion_tokens > 0 and chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens,
              f"usage: {chat.usage.prompt_tokens} + {chat.usage.completion_tokens} = {chat.usage.total_tokens}")

        stream = client.chat.completions.create(
            model=model, max_tokens=16, stream=True, stream_options={"include_usage": True},
            messages=[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What is the capital of France?"}])
        pieces, finish, usage = [], None, None
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for c in chunk.choices:
                if c.delta.content:
                    pieces.append(c.delta.content)
                finish = c.finish_reason or finish
        check("".join(pieces) == text, f"streamed chat ({len(pieces)} content chunks) equals the non-streamed answer")
        check(finish == chat.choices[0].finish_reason and usage is not None and usage.completion_tokens == chat.usage.completion_tokens,
              f"stream finish_reason={finish}, usage chunk completion_tokens={usage.completion_tokens if usage else None}")

        comp = client.completions.create(model=model, prompt="The capital of France is", max_tokens=8)
        check(comp.object == "text_completion" and len(comp.choices[0].text) > 0,
              f"completions.create: {comp.choices[0].text!r}, finish_reason={comp.choices[0].finish_reason}")

        flagged = client.chat.completions.create(
            model=model, max_tokens=16, messages=[{"role": "user", "content": "Tell me a story."}],
            extra_body={"redflag": {"policy": "halt", "threshold": 1e-30}})
        rf = (flagged.model_extra or {}).get("redflag") or {}
        check(flagged.choices[0].finish_reason == "content_filter" and rf.get("flagged") is True and rf.get("policy") == "halt",
              f"guarded request: finish_reason={flagged.choices[0].finish_reason}, redflag position={rf.get('position')} p={rf.get('probability')}")

        try:
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}], extra_body={"bogus": 1})
            check(False, "unknown field rejected")
        except openai.BadRequestError as e:
            check(e.status_code == 400 and "bogus" in str(e), f"unknown field → 400: {e.body.get('message') if isinstance(e.body, dict) else e}")
        try:
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0).models.list()
            check(False, "wrong API key rejected")
        except openai.AuthenticationError as e:
            check(e.status_code == 401, "wrong API key → 401")
        print(f"openai {openai.__version__} client check: OK")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
