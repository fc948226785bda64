"""Oracle for bloomkit's Alpaca chat template (run by scripts/make-chat-template-fixtures.sh).

For each style, the folder `bloomkit merge --template STYLE` wrote and the GGUF `bloomkit convert` made from it:
transformers' apply_chat_template on the merged folder, and plain jinja2 on the GGUF's tokenizer.chat_template (read
with gguf-py), render every instruction of CASES; both texts must agree, and the token ids come from transformers
(apply_chat_template with tokenize=True, checked against the tokenizer on the text). Writes expected.json.
Needs jinja2, transformers, tokenizers and gguf; no torch (templates and tokenizers only).

usage: generate.py OUT.json STYLE=MERGED_FOLDER=FILE.gguf...
"""
import json
import sys

import gguf
import jinja2
import transformers
from transformers import AutoTokenizer

# Instructions (and inputs) chosen to catch a template that drops, escapes or re-expands text.
CASES = [
    {"instruction": "Tell me about alpacas"},
    {"instruction": "Translate the sentence into French.", "input": "The cat sleeps on the mat."},
    {"instruction": "Écris un poème sur la mer 🌊, s'il te plaît"},
    {"instruction": "Explain {input} and {instruction} literally", "input": "{instruction} inside the input"},
    {"instruction": "Jinja text {{ not_a_variable }} {% if x %}stays{% endif %} and a backslash \\n"},
    {"instruction": "Two\nlines, 'single' and \"double\" quotes"},
    {"instruction": "Summarize.", "input": ""},
    {"instruction": "  leading and trailing spaces  ", "input": "\ttabbed input\n"},
]


def gguf_string(reader, key):
    field = reader.fields[key]
    return bytes(field.parts[field.data[0]]).decode("utf-8")


def main():
    out, specs = sys.argv[1], sys.argv[2:]
    result = {"generator": {"transformers": transformers.__version__, "jinja2": jinja2.__version__,
                            "gguf": getattr(gguf, "__version__", "unknown")},
              "templates": {}, "cases": []}
    for spec in specs:
        style, merged, gguf_path = spec.split("=", 2)
        tok = AutoTokenizer.from_pretrained(merged)
        template = gguf_string(gguf.GGUFReader(gguf_path), "tokenizer.chat_template")
        assert tok.chat_template == template, f"{style}: merged folder and GGUF templates differ"
        eos = tok.eos_token
        jinja_template = jinja2.Environment().from_string(template)
        result["templates"][style] = template
        for case in CASES:
            message = {"role": "user", "content": case["instruction"]}
            if "input" in case:
                message["input"] = case["input"]
            text = tok.apply_chat_template([message], tokenize=False)
            plain = jinja_template.render(messages=[message], eos_token=eos, add_generation_prompt=False)
            assert text == plain, f"{style}: transformers and jinja2 disagree on {case}"
            ids = tok.apply_chat_template([message], tokenize=True)
            if hasattr(ids, "keys"):
                ids = ids["input_ids"]
            ids = list(ids)
            assert ids == tok(text, add_special_tokens=False)["input_ids"], f"{style}: ids differ on {case}"
            result["cases"].append({"style": style, "instruction": case["instruction"],
                                    "input": case.get("input"), "text": text, "ids": ids})
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
