"""The curl, Python and JavaScript calls equivalent to one restoration, for both APIs.

Built from the options exactly as they were sent (a job's stored parameters, or the defaults
on the quick-start page), with this deployment's base URL. The key is the real one only right
after it was created; otherwise the code reads it from the ``CODEFORMER_KEY`` variable, so a
copied snippet never leaks a secret into a shell history by accident.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from django.urls import reverse

KEY_VARIABLE = "CODEFORMER_KEY"
DEMO_UPSCALES = (1, 2, 4)
# Each API's documented defaults; a snippet only spells out what differs, plus fidelity/upscale.
GATEWAY_DEFAULTS = {"background_enhance": True, "face_upsample": True}
DEMO_DEFAULTS = {"background_enhance": False, "face_upsample": False}


@dataclass(frozen=True)
class Snippet:
    lang: str  # "curl", "python" or "javascript"
    label: str
    code: str


@dataclass(frozen=True)
class SnippetGroup:
    api: str  # "gateway" or "demo"
    title: str
    note: str
    snippets: list[Snippet]

    @property
    def slug(self) -> str:
        return self.api


# How often the examples poll: polls share the organization's rate limit with submissions.
POLL_INTERVAL_S = 5


def request_snippets(
    *,
    base_url: str,
    params: dict,
    image_url: str = "",
    file_name: str = "photo.jpg",
    key: str | None = None,
) -> list[SnippetGroup]:
    base = base_url.rstrip("/")
    options = {
        "fidelity": float(params.get("fidelity", 0.5)),
        "upscale": int(params.get("upscale", 2)),
        "background_enhance": bool(params.get("background_enhance", True)),
        "face_upsample": bool(params.get("face_upsample", True)),
        "model": str(params.get("model", "codeformer")),
    }
    file_name = _safe_file_name(file_name)
    return [
        _gateway(base, options, image_url=image_url, file_name=file_name, key=key),
        _demo(base, options, file_name=file_name, key=key),
    ]


def quickstart_snippets(*, base_url: str, key: str | None = None) -> list[SnippetGroup]:
    """The quick-start page: both APIs with their documented defaults, then following a request
    (its status, and its live event stream)."""
    return [
        *request_snippets(base_url=base_url, params={}, key=key),
        status_snippets(base_url=base_url, key=key),
        webhook_receiver_snippets(),
    ]


def webhook_receiver_snippets() -> SnippetGroup:
    """Checking a delivery's signature with the Standard Webhooks libraries (PyPI and npm:
    ``standardwebhooks``), with the organization's signing secret from the environment."""
    python = (
        "# pip install standardwebhooks flask\n"
        "import os\n\n"
        "from flask import Flask, request\n"
        "from standardwebhooks import Webhook\n\n"
        "app = Flask(__name__)\n"
        'verifier = Webhook(os.environ["CODEFORMER_WEBHOOK_SECRET"])  # Settings > signing secret\n\n\n'
        '@app.post("/codeformer-webhook")\n'
        "def codeformer_webhook():\n"
        "    # Raises unless the signature and timestamp check out; answer 2xx once it is handled.\n"
        "    event = verifier.verify(request.get_data(), dict(request.headers))\n"
        '    kind = request.headers.get("webhook-event")  # start, output, logs, completed, billing.*, test\n'
        '    print(kind, event.get("status") or event.get("type"))\n'
        '    return "", 204'
    )
    javascript = (
        "// npm install standardwebhooks express\n"
        'import express from "express";\n'
        'import { Webhook } from "standardwebhooks";\n\n'
        "const verifier = new Webhook(process.env.CODEFORMER_WEBHOOK_SECRET); // Settings > signing secret\n"
        "const app = express();\n\n"
        'app.post("/codeformer-webhook", express.raw({ type: "application/json" }), (req, res) => {\n'
        "  // Throws unless the signature and timestamp check out; answer 2xx once it is handled.\n"
        "  const event = verifier.verify(req.body.toString(), req.headers);\n"
        '  console.log(req.headers["webhook-event"], event.status ?? event.type);\n'
        "  res.sendStatus(204);\n"
        "});\n"
        "app.listen(3000);"
    )
    return SnippetGroup(
        api="receiver",
        title="Receiving webhooks",
        note="Every delivery carries webhook-id, webhook-timestamp and webhook-signature headers "
        "(Standard Webhooks). Verify them with your organization's signing secret before trusting the body; "
        "a replayed delivery keeps its webhook-id, so a receiver can skip one it already handled.",
        snippets=[Snippet("python", "Python", python), Snippet("javascript", "JavaScript", javascript)],
    )


def status_snippets(*, base_url: str, key: str | None = None) -> SnippetGroup:
    """Reading one gateway request: its status object once, and its server-sent event stream."""
    base = base_url.rstrip("/")
    placeholder = "REQUEST_ID"
    status = base + reverse("api:request-status", kwargs={"request_id": placeholder})
    stream = base + reverse("api:request-stream", kwargs={"request_id": placeholder})
    py_key, js_key = _key_expr(key)
    header = _curl_key_header(key).strip().rstrip("\\").strip()
    curl = (
        f"# REQUEST_ID is the request_id the generate call answered.\n"
        f"curl {header} \\\n  {shlex.quote(status)}\n\n"
        "# Live: a status event whenever it changes, a log event per line, then done.\n"
        f"curl -N {header} \\\n  {shlex.quote(stream)}"
    )
    python = (
        "import json\nimport os\n\nimport requests\n\n"
        f"KEY = {py_key}\n"
        'REQUEST_ID = "REQUEST_ID"  # the request_id the generate call answered\n'
        'headers = {"Ocp-Apim-Subscription-Key": KEY}\n\n'
        f"status = requests.get(f{json.dumps(status.replace(placeholder, '{REQUEST_ID}'))}, "
        "headers=headers, timeout=30).json()\n"
        'print(status["status"])\n\n'
        "# Live: server-sent events until the request is final.\n"
        f"url = f{json.dumps(stream.replace(placeholder, '{REQUEST_ID}'))}\n"
        "with requests.get(url, headers=headers, stream=True, timeout=90) as answer:\n"
        "    event = None\n"
        "    for line in answer.iter_lines(decode_unicode=True):\n"
        '        if line.startswith("event: "):\n'
        "            event = line[7:]\n"
        '        elif line.startswith("data: "):\n'
        "            print(event, json.loads(line[6:]))\n"
        '            if event == "done":\n'
        "                break"
    )
    javascript = (
        f"const KEY = {js_key};\n"
        'const REQUEST_ID = "REQUEST_ID"; // the request_id the generate call answered\n'
        'const headers = { "Ocp-Apim-Subscription-Key": KEY };\n\n'
        f"const status = await (await fetch(`{status.replace(placeholder, '${REQUEST_ID}')}`, {{ headers }})).json();\n"
        "console.log(status.status);\n\n"
        "// Live: server-sent events until the request is final. In a browser, EventSource with\n"
        "// ?subscription-key=... works too (on a page only your own people use: the key spends your\n"
        "// wallet); it reconnects by itself, so call source.close() on the done event.\n"
        f"const answer = await fetch(`{stream.replace(placeholder, '${REQUEST_ID}')}`, {{ headers }});\n"
        "const decoder = new TextDecoder();\n"
        'let buffer = "";\n'
        "for await (const chunk of answer.body) {\n"
        "  buffer += decoder.decode(chunk, { stream: true });\n"
        "  let end;\n"
        '  while ((end = buffer.indexOf("\\n\\n")) >= 0) {\n'
        "    const block = buffer.slice(0, end);\n"
        "    buffer = buffer.slice(end + 2);\n"
        "    const event = /^event: (.*)$/m.exec(block)?.[1];\n"
        "    const data = /^data: (.*)$/m.exec(block)?.[1];\n"
        "    if (data) console.log(event, JSON.parse(data));\n"
        "  }\n"
        "}"
    )
    return SnippetGroup(
        api="status",
        title="Following a request (status and live stream)",
        note="The status object of a gateway request, once or as a live server-sent event stream "
        "of its status and logs. A stream lasts about a minute; reconnect with Last-Event-ID to go on.",
        snippets=[
            Snippet("curl", "curl", curl),
            Snippet("python", "Python", python),
            Snippet("javascript", "JavaScript", javascript),
        ],
    )


def _safe_file_name(name: str) -> str:
    name = (name or "").replace("/", "_").replace("\\", "_").strip() or "photo.jpg"
    return name[:120]


def _key_expr(key: str | None) -> tuple[str, str]:
    """How Python and JavaScript spell the key."""
    if key:
        return repr(key), json.dumps(key)
    return f'os.environ["{KEY_VARIABLE}"]', f"process.env.{KEY_VARIABLE}"


def _curl_key_header(key: str | None) -> str:
    if key:
        return f"  -H {shlex.quote('Ocp-Apim-Subscription-Key: ' + key)} \\\n"
    return f'  -H "Ocp-Apim-Subscription-Key: ${KEY_VARIABLE}" \\\n'


def _gateway_fields(options: dict) -> dict:
    fields: dict = {"codeformer_fidelity": options["fidelity"], "upscale": options["upscale"]}
    for name, default in GATEWAY_DEFAULTS.items():
        if options[name] != default:
            fields[name] = options[name]
    if options["model"] != "codeformer":
        fields["model"] = options["model"]
    return fields


def _gateway(base: str, options: dict, *, image_url: str, file_name: str, key: str | None) -> SnippetGroup:
    generate = base + reverse("api:generate")
    status = base + reverse("api:request-status", kwargs={"request_id": "REQUEST_ID"}).replace("REQUEST_ID", "")
    stream_hint = "/stream"
    py_key, js_key = _key_expr(key)
    fields = _gateway_fields(options)
    if image_url:
        body = {"image": image_url, **fields}
        curl = f"curl -X POST {shlex.quote(generate)} \\\n{_curl_key_header(key)}"
        curl += f"  -H 'Content-Type: application/json' \\\n  -d {shlex.quote(json.dumps(body))}"
        py_call = f'requests.post(\n    {generate!r},\n    headers={{"Ocp-Apim-Subscription-Key": KEY}},\n    json={_py(body)},\n    timeout=30,\n)'
        js_body = (
            f'  headers: {{ "Ocp-Apim-Subscription-Key": KEY, "Content-Type": "application/json" }},\n'
            f"  body: JSON.stringify({json.dumps(body, indent=2).replace(chr(10), chr(10) + '  ')}),\n"
        )
        js_setup = ""
    else:
        curl = f"curl -X POST {shlex.quote(generate)} \\\n{_curl_key_header(key)}  -F image=@{shlex.quote(file_name)}"
        for name, value in fields.items():
            curl += f" \\\n  -F {name}={_form(value)}"
        form = {name: _form(value) for name, value in fields.items()}
        py_call = (
            f'requests.post(\n    {generate!r},\n    headers={{"Ocp-Apim-Subscription-Key": KEY}},\n'
            f'    files={{"image": open({file_name!r}, "rb")}},\n    data={_py(form)},\n    timeout=60,\n)'
        )
        js_setup = _js_form(file_name, form)
        js_body = '  headers: { "Ocp-Apim-Subscription-Key": KEY },\n  body: form,\n'
    python = (
        "import os\nimport time\n\nimport requests\n\n"
        f"KEY = {py_key}\n\n\n"
        "def answer_of(response):\n"
        '    """The JSON answer; an error\'s message says what to fix (every error has one)."""\n'
        "    if response.status_code >= 400:\n"
        '        raise SystemExit(f"{response.status_code}: {response.text}")\n'
        "    return response.json()\n\n\n"
        f"job = answer_of({py_call})\n"
        '# Wait for the result (or pass a webhook, or follow the live stream at polling_url + "/stream").\n'
        "# Polls count against the organization's rate limit, as submissions do: every 5 s is plenty.\n"
        "while True:\n"
        f"    time.sleep({POLL_INTERVAL_S})\n"
        '    response = requests.get(job["polling_url"], headers={"Ocp-Apim-Subscription-Key": KEY}, timeout=30)\n'
        "    if response.status_code == 429:  # over the rate limit: wait as long as it says\n"
        '        time.sleep(min(int(response.headers.get("Retry-After", "5")), 60))\n'
        "        continue\n"
        "    status = answer_of(response)\n"
        '    if status["status"] not in ("QUEUED", "PROCESSING"):\n'
        "        break\n"
        'print(status["status"], status["output"] and status["output"]["media_url"][0])'
    )
    javascript = (
        f"const KEY = {js_key};\n" + js_setup + "// An error's message says what to fix (every error has one).\n"
        "const answerOf = async (response) => {\n"
        "  if (!response.ok) throw new Error(`${response.status}: ${await response.text()}`);\n"
        "  return response.json();\n"
        "};\n"
        + f'const job = await answerOf(await fetch({json.dumps(generate)}, {{\n  method: "POST",\n{js_body}}}));\n'
        "// Polls count against the organization's rate limit, as submissions do: every 5 s is plenty.\n"
        "let status;\n"
        "do {\n"
        f"  await new Promise((r) => setTimeout(r, {POLL_INTERVAL_S * 1000}));\n"
        '  const response = await fetch(job.polling_url, { headers: { "Ocp-Apim-Subscription-Key": KEY } });\n'
        "  if (response.status === 429) {  // over the rate limit: wait as long as it says\n"
        '    await new Promise((r) => setTimeout(r, Math.min(Number(response.headers.get("Retry-After") ?? 5), 60) * 1000));\n'
        "    continue;\n"
        "  }\n"
        "  status = await answerOf(response);\n"
        '} while (!status || ["QUEUED", "PROCESSING"].includes(status.status));\n'
        "console.log(status.status, status.output?.media_url[0]);"
    )
    curl += (
        f"\n\n# then poll the polling_url it answers ({status}<request_id>),\n"
        f'# or follow it live: curl -N -H "Ocp-Apim-Subscription-Key: ..." <polling_url>{stream_hint}'
    )
    return SnippetGroup(
        api="gateway",
        title="Gateway API (asynchronous)",
        note="Answers 202 with a request_id at once; poll, stream or take a webhook for the result. "
        "Add the header Prefer: wait=30 to get the finished status in the answer when it is quick.",
        snippets=[
            Snippet("curl", "curl", curl),
            Snippet("python", "Python", python),
            Snippet("javascript", "JavaScript", javascript),
        ],
    )


def _demo(base: str, options: dict, *, file_name: str, key: str | None) -> SnippetGroup:
    url = base + reverse("api:process")
    py_key, js_key = _key_expr(key)
    fields: dict = {"fidelity": options["fidelity"]}
    note = "Waits for the restoration and answers the result in the same call."
    if options["upscale"] in DEMO_UPSCALES:
        fields["upscale"] = options["upscale"]
    else:
        fields["upscale"] = 4
        note += f" It offers upscale 1, 2 or 4 only, so this call uses 4 instead of {options['upscale']}."
    for name, default in DEMO_DEFAULTS.items():
        if options[name] != default:
            fields[name] = options[name]
    if options["model"] != "codeformer":
        fields["model"] = options["model"]
    form = {name: _form(value) for name, value in fields.items()}
    curl = f"curl -X POST {shlex.quote(url)} \\\n{_curl_key_header(key)}  -F image=@{shlex.quote(file_name)}"
    for name, value in form.items():
        curl += f" \\\n  -F {name}={value}"
    python = (
        "import os\n\nimport requests\n\n"
        f"KEY = {py_key}\n"
        f'answer = requests.post(\n    {url!r},\n    headers={{"Ocp-Apim-Subscription-Key": KEY}},\n'
        f'    files={{"image": open({file_name!r}, "rb")}},\n    data={_py(form)},\n    timeout=330,\n).json()\n'
        'print(answer["status"], [result["image_url"] for result in answer.get("results", [])])'
    )
    javascript = (
        f"const KEY = {js_key};\n"
        + _js_form(file_name, form)
        + f'const answer = await (await fetch({json.dumps(url)}, {{\n  method: "POST",\n'
        '  headers: { "Ocp-Apim-Subscription-Key": KEY },\n  body: form,\n})).json();\n'
        "console.log(answer.status, answer.results?.map((r) => r.image_url));"
    )
    return SnippetGroup(
        api="demo",
        title="Demo API (synchronous)",
        note=note,
        snippets=[
            Snippet("curl", "curl", curl),
            Snippet("python", "Python", python),
            Snippet("javascript", "JavaScript", javascript),
        ],
    )


def _form(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _py(mapping: dict) -> str:
    return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in mapping.items()) + "}"


def _js_form(file_name: str, form: dict) -> str:
    lines = [
        '// In Node 20+: import { openAsBlob } from "node:fs"; in a browser, take the File from an <input>.',
        "const form = new FormData();",
        f'form.append("image", await openAsBlob({json.dumps(file_name)}), {json.dumps(file_name)});',
    ]
    lines += [f"form.append({json.dumps(name)}, {json.dumps(value)});" for name, value in form.items()]
    return "\n".join(lines) + "\n"
