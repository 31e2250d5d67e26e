"""Golden renders of real chat templates, from transformers' own renderer (the reference).

Usage: .venv/bin/python testdata/references/chat-template-goldens.py <templates dir> <out dir>

For each <name>.jinja in the templates directory (llama.cpp's models/templates, extracted from
node-llama-cpp's git bundle by bin/extract-llama-cpp), writes <out dir>/<name>.json: the template's
SHA-256 and, per conversation shape of testdata/chat-templates/shapes.json, the text that
transformers.utils.chat_template_utils.render_jinja_template renders (what apply_chat_template renders
before tokenizing), or the error it raises. strftime_now is pinned to 2026-01-15 so that templates which
print today's date render the same every day; the Java test pins it the same way.
"""
import datetime
import glob
import hashlib
import json
import os
import sys

from transformers.utils.chat_template_utils import render_jinja_template

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = os.path.join(HERE, "..", "chat-templates", "shapes.json")
PINNED = datetime.datetime(2026, 1, 15, 9, 30, 0)


def strftime_now(fmt):
    return PINNED.strftime(fmt)


def main(templates, out):
    with open(SHAPES, encoding="utf-8") as f:
        spec = json.load(f)
    for s in spec["shapes"].values():
        if s.get("tools") == "@tools":
            s["tools"] = spec["tools"]
    os.makedirs(out, exist_ok=True)
    for path in sorted(glob.glob(os.path.join(templates, "*.jinja"))):
        name = os.path.basename(path)[: -len(".jinja")]
        with open(path, encoding="utf-8") as f:
            source = f.read()
        renders = {}
        for shape, s in spec["shapes"].items():
            try:
                rendered, _ = render_jinja_template(
                    conversations=[s["messages"]],
                    tools=s.get("tools"),
                    chat_template=source,
                    add_generation_prompt=s["add_generation_prompt"],
                    strftime_now=strftime_now,
                    **spec["special_tokens"],
                )
                renders[shape] = {"text": rendered[0]}
            except Exception as e:  # the reference refuses this shape: so must we
                renders[shape] = {"error": type(e).__name__ + ": " + str(e)[:300]}
        golden = {"template": name + ".jinja", "sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(), "renders": renders}
        with open(os.path.join(out, name + ".json"), "w", encoding="utf-8") as f:
            json.dump(golden, f, indent=1, ensure_ascii=False, sort_keys=False)
            f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
