#!/usr/bin/env python3
"""Generate every bloomkit test fixture under Tests/Fixtures/.

One command regenerates everything (see README.md):

    /path/to/venv/bin/python Tests/Fixtures/generate.py \
        --py2023 /path/to/venv-peft02/bin/python

Stages run in order (``--stages a,b`` runs a subset; later stages read what earlier
stages committed, so a subset is only valid when the earlier outputs exist):

    data      training text, instruction data, tokenizer/
    models    tiny-a, tiny-b (trained, rounded to bf16 values, saved in 4 layouts)
    adapters  alpaca-b (trained LoRA), lora-bin-a, rslora-a (random lora_B)
    a2023     adapters/lora-2023-a via generate_2023.py in the PEFT 0.2.0 venv
    merged    expected/merged/*.safetensors (PEFT merge_and_unload)
    tokens    expected/tokens.json, expected/tokens-random.json
    tokvariants  tokenizer/{cross-split,added-flags}/, expected/tokens-{cross-split,added-flags}.json,
              expected/decode-random.json
    generate  expected/generate/*.json
    ppl       expected/perplexity/
    inspect   expected/inspect/*.json
    quant     expected/quant/
    gguf      expected/gguf/
    llamacpp  expected/gguf/llama-cpp-tiny-a-q8_0.gguf via llama.cpp's convert_hf_to_gguf.py (--llama-cpp DIR)
    hostile   hostile/

Everything is seeded; the Python and library versions are pinned in requirements.txt and
checked at start (``--update-requirements`` rewrites the pins).
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import importlib
import importlib.metadata
import inspect
import io
import json
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE  # outputs live next to this script
REQUIREMENTS = HERE / "requirements.txt"
PINNED = ["torch", "transformers", "peft", "tokenizers", "safetensors", "gguf", "numpy"]

SEED = 1234
VOCAB_TARGET = 1500          # BPE vocab size (incl. 4 specials and the 256 byte alphabet); kept small so
MODEL_VOCAB = 1536           # that all fixtures fit in 8 MB. config.vocab_size: multiple of 64, > tokenizer size
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>"]
UNK, BOS, EOS, PAD = 0, 1, 2, 3

BLOOM_SPLIT_REGEX = " ?[^(\\s|[.,!?…。，、।۔،])]+"

ALPACA_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)
ALPACA_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)

# The seed card's template (bloomkit stores it in its GGUF files and fills it in `generate --instruction/--input`,
# issue 4): like the Alpacoom widget, single newlines. The instruction training data uses both forms (half each).
ALPACA_SEED_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n"
    "### Instruction:\n{instruction}\n### Response:"
)
ALPACA_SEED_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n"
    "### Instruction:\n{instruction}\n### Input:\n{input}\n### Response:"
)

TINY_A = dict(hidden_size=64, n_layer=2, n_head=4)
TINY_B = dict(hidden_size=96, n_layer=3, n_head=6)


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def write_json(path: Path, obj, indent=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent)
        f.write("\n")


def read_json(path: Path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------

def current_versions():
    v = {"python": "%d.%d.%d" % sys.version_info[:3]}
    for p in PINNED:
        v[p] = importlib.metadata.version(p)
    return v


def check_requirements(update: bool):
    cur = current_versions()
    if update or not REQUIREMENTS.exists():
        lines = ["# Versions generate.py was last run with (checked at start; --update-requirements rewrites).",
                 "# Main venv (generate.py). python==%s" % cur["python"]]
        lines += ["%s==%s" % (p, cur[p]) for p in PINNED]
        lines += ["# PEFT 0.2.0 venv (generate_2023.py), checked by generate_2023.py itself:",
                  "#   peft==0.2.0 transformers==4.28.1 tokenizers==0.13.3 accelerate==0.18.0 torch setuptools<70"]
        REQUIREMENTS.write_text("\n".join(lines) + "\n")
        log("wrote", REQUIREMENTS)
        return
    want = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.strip()
        if line.startswith("# Main venv") and "python==" in line:
            want["python"] = line.split("python==")[1].strip()
        if not line or line.startswith("#"):
            continue
        name, ver = line.split("==")
        want[name.strip()] = ver.strip()
    bad = {k: (want[k], cur.get(k)) for k in want if cur.get(k) != want[k]}
    if bad:
        sys.exit("version mismatch (pinned, installed): %r\nrun with --update-requirements to accept" % bad)


# --------------------------------------------------------------------------------------
# Training text
# --------------------------------------------------------------------------------------

DOC_MODULES = [
    "collections", "functools", "itertools", "json", "os", "re", "string", "random", "statistics",
    "fractions", "decimal", "datetime", "pathlib", "argparse", "logging", "subprocess", "threading",
    "queue", "heapq", "bisect", "csv", "difflib", "pprint", "abc", "contextlib", "copy", "operator",
    "shutil", "tempfile", "zipfile", "tarfile", "gzip", "hashlib", "secrets", "sqlite3", "unittest",
    "typing", "dataclasses", "enum", "inspect", "pydoc", "locale", "gettext", "codecs", "io", "struct",
    "weakref", "types", "numbers", "glob", "fnmatch", "sched", "selectors", "socket", "ssl",
    "email.message", "http.client", "urllib.parse", "urllib.request", "html.parser", "xml.dom.minidom",
    "configparser", "pickle", "shelve", "traceback", "warnings", "timeit", "trace", "doctest", "ast",
    "tokenize", "dis", "base64", "uuid", "ipaddress", "mailbox", "smtplib", "ftplib", "optparse",
    "getopt", "cmd", "shlex", "wave", "colorsys", "graphlib", "zoneinfo", "tomllib",
]
HELDOUT_MODULES = ["textwrap", "calendar", "sched", "colorsys"]  # perplexity text (never trained on)
LICENSES = ["GPL-3", "Apache-2.0", "LGPL-2.1", "MPL-2.0", "Artistic", "BSD"]

MULTILINGUAL = [
    # Chinese
    "今天天气很好，我们去公园散步。", "这是一个用于测试的小型语言模型。", "我喜欢读书，也喜欢写字。",
    "北京是中国的首都，上海是最大的城市。", "学习新的语言需要时间和耐心。",
    # Japanese
    "東京は日本の首都です。", "これは小さな言語モデルのテストです。", "私は毎朝コーヒーを飲みます。",
    "ひらがなとカタカナと漢字を使います。",
    # Korean
    "서울은 한국의 수도입니다.", "오늘은 날씨가 정말 좋습니다.", "작은 언어 모델을 시험하고 있습니다.",
    # Hindi (Devanagari)
    "भारत की राजधानी नई दिल्ली है।", "मुझे किताबें पढ़ना पसंद है।", "यह एक छोटा भाषा मॉडल है।",
    "आज मौसम बहुत अच्छा है।", "हम हिंदी और अंग्रेज़ी बोलते हैं।",
    # Arabic / Urdu
    "القاهرة هي عاصمة مصر.", "أحب قراءة الكتب، وأحب الكتابة أيضا.", "هذا نموذج لغوي صغير للاختبار.",
    "الطقس جميل اليوم.", "یہ ایک چھوٹا سا ماڈل ہے۔", "میں اردو بولتا ہوں۔",
    # emoji incl. ZWJ sequences, flags, skin tones
    "I love pizza 🍕 and coffee ☕!", "Family: 👨‍👩‍👧‍👦 and 👩‍💻 at work.", "Flags 🇫🇷 🇯🇵 🇮🇳 🇪🇬",
    "Thumbs up 👍🏽 and waving 👋🏿.", "Hearts ❤️ 💙 💚 and stars ⭐✨.", "Rocket 🚀 to the moon 🌕.",
    # accents / Cyrillic / Greek
    "Café, naïve, façade, coöperate, São Paulo.", "Привет, как дела? Москва — столица России.",
    "Καλημέρα κόσμε. Η Αθήνα είναι η πρωτεύουσα.", "Größe, Straße, Übermut, Ärger.",
]


def prose_documents(modules):
    """English prose: cleaned docstrings of stdlib modules (deterministic for a given Python)."""
    import warnings
    warnings.simplefilter("ignore")
    docs, seen = [], set()
    for m in modules:
        mod = importlib.import_module(m)
        parts = [inspect.getdoc(mod) or ""]
        for name in sorted(dir(mod)):
            if name.startswith("_"):
                continue
            obj = getattr(mod, name, None)
            if getattr(obj, "__module__", None) != mod.__name__:
                continue
            d = inspect.getdoc(obj)
            if d:
                parts.append(d)
            if inspect.isclass(obj):
                for mn in sorted(vars(obj)):
                    if mn.startswith("_"):
                        continue
                    v = vars(obj)[mn]
                    if isinstance(v, (int, float, str, bytes, tuple, list, dict)):
                        continue
                    d = inspect.getdoc(v)
                    if d and len(d) > 40:
                        parts.append(d)
        for p in parts:
            p = p.strip()
            if len(p) < 40 or p in seen:
                continue
            seen.add(p)
            docs.append(p)
    return docs


def license_documents():
    out = []
    for name in LICENSES:
        p = Path("/usr/share/common-licenses") / name
        if p.exists():
            out.append(p.read_text(encoding="utf-8", errors="replace"))
    return out


def training_prose():
    docs = prose_documents([m for m in DOC_MODULES if m not in HELDOUT_MODULES]) + license_documents()
    return docs


def heldout_prose():
    docs = prose_documents(HELDOUT_MODULES)
    text = "\n\n".join(docs)
    # cut at a paragraph boundary to 4-8 KB
    cut = text[:7000]
    cut = cut[: cut.rfind("\n\n")] if "\n\n" in cut[4000:] else cut
    return cut.strip() + "\n"


# --------------------------------------------------------------------------------------
# Alpaca-style instruction data (templated, deterministic, learnable)
# --------------------------------------------------------------------------------------

OPPOSITES = [("hot", "cold"), ("big", "small"), ("up", "down"), ("fast", "slow"), ("happy", "sad"),
             ("light", "dark"), ("old", "new"), ("open", "closed"), ("early", "late"), ("high", "low"),
             ("left", "right"), ("long", "short"), ("rich", "poor"), ("strong", "weak"), ("wet", "dry"),
             ("loud", "quiet"), ("hard", "soft"), ("full", "empty"), ("clean", "dirty"), ("near", "far"),
             ("thick", "thin"), ("heavy", "light"), ("young", "old"), ("day", "night"), ("win", "lose"),
             ("push", "pull"), ("inside", "outside"), ("true", "false"), ("first", "last"), ("sweet", "sour"),
             ("north", "south"), ("east", "west"), ("good", "bad"), ("start", "finish"), ("buy", "sell"),
             ("give", "take"), ("above", "below"), ("before", "after"), ("friend", "enemy"), ("noisy", "silent")]
CAPITALS = [("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"),
            ("Germany", "Berlin"), ("Egypt", "Cairo"), ("India", "New Delhi"), ("China", "Beijing"),
            ("Russia", "Moscow"), ("Greece", "Athens"), ("Kenya", "Nairobi"), ("Peru", "Lima"),
            ("Canada", "Ottawa"), ("Mexico", "Mexico City"), ("Norway", "Oslo"), ("Sweden", "Stockholm"),
            ("Poland", "Warsaw"), ("Ireland", "Dublin"), ("Portugal", "Lisbon"), ("Austria", "Vienna"),
            ("Cuba", "Havana"), ("Chile", "Santiago"), ("Thailand", "Bangkok"), ("Turkey", "Ankara"),
            ("Iran", "Tehran"), ("Iraq", "Baghdad"), ("Ghana", "Accra"), ("Nepal", "Kathmandu"),
            ("Finland", "Helsinki"), ("Denmark", "Copenhagen"), ("Hungary", "Budapest"), ("Argentina", "Buenos Aires"),
            ("Brazil", "Brasilia"), ("Australia", "Canberra"), ("Vietnam", "Hanoi"), ("Belgium", "Brussels")]
PLURALS = [("cat", "cats"), ("dog", "dogs"), ("box", "boxes"), ("mouse", "mice"), ("child", "children"),
           ("man", "men"), ("woman", "women"), ("tooth", "teeth"), ("foot", "feet"), ("goose", "geese"),
           ("city", "cities"), ("baby", "babies"), ("leaf", "leaves"), ("knife", "knives"), ("wolf", "wolves"),
           ("bus", "buses"), ("glass", "glasses"), ("dish", "dishes"), ("church", "churches"), ("fox", "foxes"),
           ("story", "stories"), ("party", "parties"), ("book", "books"), ("tree", "trees"), ("house", "houses"),
           ("person", "people"), ("sheep", "sheep"), ("fish", "fish"), ("potato", "potatoes"), ("hero", "heroes"),
           ("car", "cars"), ("bird", "birds"), ("key", "keys"), ("day", "days"), ("toy", "toys"), ("wish", "wishes")]
LISTS = {
    "colors": ["red", "blue", "green"], "fruits": ["apple", "banana", "orange"],
    "animals": ["dog", "cat", "horse"], "planets": ["Mercury", "Venus", "Earth"],
    "days of the week": ["Monday", "Tuesday", "Wednesday"], "musical instruments": ["piano", "guitar", "violin"],
    "vegetables": ["carrot", "potato", "onion"], "sports": ["football", "tennis", "swimming"],
    "shapes": ["circle", "square", "triangle"], "seasons": ["spring", "summer", "autumn"],
    "metals": ["iron", "copper", "gold"], "birds": ["eagle", "sparrow", "owl"],
    "drinks": ["water", "tea", "coffee"], "languages": ["English", "French", "Spanish"],
    "months": ["January", "February", "March"], "oceans": ["Atlantic", "Pacific", "Indian"],
}
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
                "nineteen", "twenty"]
REPEAT_WORDS = ["apple", "river", "moon", "stone", "cloud", "bread", "garden", "window", "tiger", "music",
                "paper", "silver", "candle", "forest", "bridge", "orange", "pencil", "rabbit", "yellow", "summer"]
DEFINITIONS = [("a teacher", "a person who helps students learn"), ("a bakery", "a shop that sells bread"),
               ("a library", "a place where people borrow books"), ("a pilot", "a person who flies planes"),
               ("a river", "a large stream of water"), ("a doctor", "a person who treats sick people"),
               ("a kitchen", "a room where food is cooked"), ("a farmer", "a person who grows food"),
               ("a bridge", "a road built over water"), ("a clock", "a tool that shows the time"),
               ("a garden", "a place where plants grow"), ("a map", "a picture that shows places"),
               ("a key", "a tool that opens a lock"), ("a poet", "a person who writes poems"),
               ("a school", "a place where children learn"), ("a ship", "a large boat that carries people")]

# Each family: list of paraphrase templates. A template is (instruction, input or None) with {x}.
FAMILIES = {
    "opposite": [("What is the opposite of {x}?", None), ("Give the opposite of the word {x}.", None),
                 ("Name the antonym of {x}.", None), ("Write the opposite of the given word.", "{x}")],
    "plural": [("What is the plural of {x}?", None), ("Give the plural form of the word {x}.", None),
               ("Write the plural form of the given word.", "{x}")],
    "capital": [("What is the capital of {x}?", None), ("Name the capital city of {x}.", None),
                ("Which city is the capital of {x}?", None), ("What is the capital of the given country?", "{x}")],
    "list3": [("List three {x}.", None), ("Name three {x}.", None), ("Give me three examples of {x}.", None)],
    "add": [("What is {a} plus {b}?", None), ("Add {a} and {b}.", None),
            ("Add the two numbers.", "{a} and {b}")],
    "repeat": [("Repeat the word {x} three times.", None), ("Say {x} three times.", None),
               ("Repeat the given word three times.", "{x}")],
    "define": [("Define {x}.", None), ("What is {x}?", None), ("Explain the meaning of the given word.", "{x}")],
}
BASE_FAMILIES = ["opposite", "plural", "repeat"]   # tiny-b's own instruction phase (format only)


def _answer(family, item):
    if family == "opposite":
        a, b = item
        return "The opposite of %s is %s." % (a, b)
    if family == "plural":
        a, b = item
        return "The plural of %s is %s." % (a, b)
    if family == "capital":
        a, b = item
        return "The capital of %s is %s." % (a, b)
    if family == "list3":
        k, v = item
        return "Here are three %s:\n1. %s\n2. %s\n3. %s" % (k, v[0], v[1], v[2])
    if family == "add":
        a, b = item
        return "%s plus %s is %s." % (NUMBER_WORDS[a].capitalize(), NUMBER_WORDS[b], NUMBER_WORDS[a + b])
    if family == "repeat":
        return " ".join([item] * 3)
    if family == "define":
        a, b = item
        return "%s is %s." % (a[0].upper() + a[1:], b)
    raise KeyError(family)


def _items(family):
    if family == "opposite":
        return OPPOSITES + [(b, a) for a, b in OPPOSITES if (b, a) not in OPPOSITES and b not in ("light", "old")]
    if family == "plural":
        return PLURALS
    if family == "capital":
        return CAPITALS
    if family == "list3":
        return sorted(LISTS.items())
    if family == "add":
        return [(a, b) for a in range(0, 11) for b in range(0, 11) if a + b <= 20]
    if family == "repeat":
        return REPEAT_WORDS
    if family == "define":
        return DEFINITIONS


def _fill(tmpl, family, item):
    if family == "add":
        a, b = item
        return tmpl.format(a=NUMBER_WORDS[a], b=NUMBER_WORDS[b])
    x = item if isinstance(item, str) else item[0]
    return tmpl.format(x=x)


def instruction_data():
    """All (family, template, item) combinations; a seeded ~12% of them are held out.

    Every item is seen in training with at least one other template, so held-out
    instructions are new phrasings of known facts."""
    rng = random.Random(SEED + 7)
    train, held = [], []
    for family in sorted(FAMILIES):
        for item in _items(family):
            tmpls = FAMILIES[family]
            hold_t = rng.randrange(len(tmpls)) if rng.random() < 0.35 else None
            for ti, (ins, inp) in enumerate(tmpls):
                ex = {"family": family, "template": ti, "instruction": _fill(ins, family, item),
                      "input": _fill(inp, family, item) if inp else "", "output": _answer(family, item)}
                (held if ti == hold_t else train).append(ex)
    rng.shuffle(train)
    for i, ex in enumerate(train):   # training prompt form: Stanford (even index) or seed card (odd), half each
        ex["form"] = "seed" if i % 2 else "stanford"
    return train, held


def alpaca_prompt(ex):
    """The Stanford Alpaca prompt (double newlines)."""
    if ex.get("input"):
        return ALPACA_WITH_INPUT.format(instruction=ex["instruction"], input=ex["input"])
    return ALPACA_NO_INPUT.format(instruction=ex["instruction"])


def seed_prompt(ex):
    """The seed card's prompt (single newlines; what bloomkit stores in GGUF files and fills in)."""
    if ex.get("input"):
        return ALPACA_SEED_WITH_INPUT.format(instruction=ex["instruction"], input=ex["input"])
    return ALPACA_SEED_NO_INPUT.format(instruction=ex["instruction"])


def training_prompt(ex):
    """A training example's prompt in its own form (`instruction_data` alternates them), so both work."""
    return seed_prompt(ex) if ex["form"] == "seed" else alpaca_prompt(ex)


# --------------------------------------------------------------------------------------
# Stage: data (tokenizer)
# --------------------------------------------------------------------------------------

def bytelevel_alphabet():
    from tokenizers import pre_tokenizers
    return pre_tokenizers.ByteLevel.alphabet()


def build_tokenizer():
    from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(BLOOM_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB_TARGET, special_tokens=SPECIALS,
                                  initial_alphabet=bytelevel_alphabet(), min_frequency=2, show_progress=False)
    train, _ = instruction_data()
    texts = training_prose() + MULTILINGUAL * 6 + [training_prompt(e) + e["output"] for e in train[:400]]
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def stage_data():
    from transformers import PreTrainedTokenizerFast
    tok = build_tokenizer()
    assert [tok.token_to_id(s) for s in SPECIALS] == [0, 1, 2, 3]
    assert tok.get_vocab_size() == VOCAB_TARGET, tok.get_vocab_size()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>")
    fast.padding_side = "left"
    d = OUT / "tokenizer"
    if d.exists():
        shutil.rmtree(d)
    fast.save_pretrained(str(d))
    if not (d / "special_tokens_map.json").exists():  # transformers 5 no longer writes it
        write_json(d / "special_tokens_map.json",
                   {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}, indent=2)
    # BLOOM-like tokenizer_config (transformers 5 writes class "TokenizersBackend" and a "backend" key)
    tc = read_json(d / "tokenizer_config.json")
    tc.pop("backend", None)
    tc.update({"tokenizer_class": "BloomTokenizerFast", "padding_side": "left", "add_prefix_space": False})
    write_json(d / "tokenizer_config.json", dict(sorted(tc.items())), indent=2)
    # compact tokenizer.json (same content; it is copied into every model folder, so size matters)
    tj = read_json(d / "tokenizer.json")
    with open(d / "tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, separators=(",", ":"))
    # sanity: the saved file has the BLOOM pipeline
    tj = read_json(d / "tokenizer.json")
    assert tj["normalizer"] is None
    assert tj["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] == BLOOM_SPLIT_REGEX
    assert tj["post_processor"]["type"] == "ByteLevel" and tj["post_processor"]["trim_offsets"] is False
    for a in tj["added_tokens"]:
        assert a["special"] is True
    log("tokenizer: %d tokens, %d merges" % (tok.get_vocab_size(), len(tj["model"]["merges"])))


def load_tokenizer():
    from tokenizers import Tokenizer
    return Tokenizer.from_file(str(OUT / "tokenizer" / "tokenizer.json"))


def load_hf_tokenizer():
    from transformers import PreTrainedTokenizerFast
    return PreTrainedTokenizerFast.from_pretrained(str(OUT / "tokenizer"))


def copy_tokenizer(dst: Path):
    for n in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(OUT / "tokenizer" / n, dst / n)


# --------------------------------------------------------------------------------------
# Stage: models
# --------------------------------------------------------------------------------------

def torch_setup():
    import torch
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    return torch


def bloom_config(dims):
    from transformers import BloomConfig
    return BloomConfig(vocab_size=MODEL_VOCAB, layer_norm_epsilon=1e-5, bos_token_id=BOS, eos_token_id=EOS,
                       pad_token_id=PAD, unk_token_id=UNK, hidden_dropout=0.0, attention_dropout=0.0,
                       initializer_range=0.02, use_cache=True, **dims)


def encode_corpus(tok, docs):
    ids = []
    for d in docs:
        ids.extend(tok.encode(d).ids)
        ids.append(EOS)
    return np.array(ids, dtype=np.int64)


def prose_token_stream(tok):
    docs = training_prose() + MULTILINGUAL * 3
    rng = random.Random(SEED + 1)
    rng.shuffle(docs)
    return encode_corpus(tok, docs)


def instruction_batches(tok, examples, families):
    """(ids, labels) per example: labels mask the prompt (-100), target = output + </s>."""
    out = []
    for ex in examples:
        if ex["family"] not in families:
            continue
        # Token-level concatenation prompt_ids ++ ids(output) ++ [eos]: tokenizing the joined string would
        # merge across the boundary (BLOOM's split regex keeps ":" in words: "Response:The"), and at
        # inference the prompt is tokenized alone.
        p = tok.encode(training_prompt(ex)).ids
        full = p + tok.encode(ex["output"]).ids + [EOS]
        out.append((full, [-100] * len(p) + full[len(p):]))
    return out


def train_lm(model, stream, steps, seq=128, batch=16, lr=3e-3, seed=0, name=""):
    import torch
    g = torch.Generator().manual_seed(SEED + seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    data = torch.from_numpy(stream)
    model.train()
    t0 = time.time()
    for step in range(steps):
        starts = torch.randint(0, len(data) - seq - 1, (batch,), generator=g)
        x = torch.stack([data[s: s + seq] for s in starts])
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 200 == 0 or step == steps - 1:
            log("%s prose step %d loss %.3f (%.0fs)" % (name, step, loss.item(), time.time() - t0))
    model.eval()


def train_instructions(model, pairs, steps, batch=16, lr=2e-3, seed=0, name=""):
    import torch
    g = torch.Generator().manual_seed(SEED + seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 30) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    model.train()
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, len(pairs), (batch,), generator=g).tolist()
        L = max(len(pairs[i][0]) for i in idx)
        x = torch.full((batch, L), PAD, dtype=torch.long)
        y = torch.full((batch, L), -100, dtype=torch.long)
        m = torch.zeros((batch, L), dtype=torch.long)
        for r, i in enumerate(idx):  # right padding for training
            ids, lab = pairs[i]
            x[r, : len(ids)] = torch.tensor(ids)
            y[r, : len(ids)] = torch.tensor(lab)
            m[r, : len(ids)] = 1
        loss = model(input_ids=x, attention_mask=m, labels=y).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            log("%s instr step %d loss %.3f (%.0fs)" % (name, step, loss.item(), time.time() - t0))
    model.eval()


def round_to_bf16(model):
    import torch
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))


def save_config(model, d: Path):
    model.config.save_pretrained(str(d))


def save_layouts_tiny_a(model):
    import torch
    base = OUT / "models" / "tiny-a"
    if base.exists():
        shutil.rmtree(base)
    # st-bf16-sharded
    d = base / "st-bf16-sharded"
    m16 = copy.deepcopy(model).to(torch.bfloat16)
    m16.save_pretrained(str(d), max_shard_size="150KB")
    assert (d / "model.safetensors.index.json").exists()
    copy_tokenizer(d)
    # bin-f32: BloomModel state dict (no transformer. prefix, no lm_head), like Megatron-era bigscience files
    d = base / "bin-f32"
    d.mkdir(parents=True)
    sd = {k: v.clone().contiguous() for k, v in model.transformer.state_dict().items()}
    torch.save(sd, str(d / "pytorch_model.bin"))
    save_config(model, d)
    copy_tokenizer(d)


def save_layouts_tiny_b(model):
    import torch
    base = OUT / "models" / "tiny-b"
    if base.exists():
        shutil.rmtree(base)
    # bin-f32-lmhead: full BloomForCausalLM.state_dict() (lm_head.weight shares storage), sharded by hand
    d = base / "bin-f32-lmhead"
    d.mkdir(parents=True)
    sd = model.state_dict()
    assert "lm_head.weight" in sd
    assert sd["lm_head.weight"].data_ptr() == sd["transformer.word_embeddings.weight"].data_ptr()
    keys = list(sd.keys())
    first = [k for k in keys if k.startswith("transformer.word_embeddings") or k == "lm_head.weight"
             or k.startswith("transformer.h.0.")]
    second = [k for k in keys if k not in first]
    names = ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"]
    weight_map, total = {}, 0
    for fname, ks in zip(names, (first, second)):
        part = {k: sd[k] for k in ks}
        torch.save(part, str(d / fname))
        for k in ks:
            weight_map[k] = fname
            if k != "lm_head.weight":
                total += sd[k].numel() * 4
    write_json(d / "pytorch_model.bin.index.json",
               {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, indent=2)
    save_config(model, d)
    copy_tokenizer(d)
    # st-f16: single model.safetensors in f16 (values f16-rounded; reader/inspect tests only)
    d = base / "st-f16"
    m16 = copy.deepcopy(model).to(torch.float16)
    m16.save_pretrained(str(d))
    assert (d / "model.safetensors").exists()
    copy_tokenizer(d)


def load_tiny(name):
    """The canonical f32 model (bf16-representable values) from its f32 .bin layout."""
    import torch
    from transformers import BloomForCausalLM, BloomConfig
    if name == "tiny-a":
        d = OUT / "models" / "tiny-a" / "bin-f32"
        cfg = BloomConfig.from_pretrained(str(d))
        m = BloomForCausalLM(cfg)
        sd = torch.load(str(d / "pytorch_model.bin"), weights_only=True)
        m.transformer.load_state_dict(sd, strict=True)
    else:
        d = OUT / "models" / "tiny-b" / "bin-f32-lmhead"
        cfg = BloomConfig.from_pretrained(str(d))
        m = BloomForCausalLM(cfg)
        sd = {}
        for f in sorted(d.glob("pytorch_model-*.bin")):
            sd.update(torch.load(str(f), weights_only=True))
        m.load_state_dict(sd, strict=True)
    m.tie_weights()
    m.float().eval()
    return m


def stage_models():
    torch = torch_setup()
    from transformers import BloomForCausalLM
    tok = load_tokenizer()
    stream = prose_token_stream(tok)
    log("prose stream: %d tokens" % len(stream))

    torch.manual_seed(SEED + 10)
    a = BloomForCausalLM(bloom_config(TINY_A))
    train_lm(a, stream, steps=STEPS["a_prose"], lr=4e-3, seed=10, name="tiny-a")
    round_to_bf16(a)
    save_layouts_tiny_a(a)

    torch.manual_seed(SEED + 20)
    b = BloomForCausalLM(bloom_config(TINY_B))
    train_lm(b, stream, steps=STEPS["b_prose"], lr=3e-3, seed=20, name="tiny-b")
    train_ex, _ = instruction_data()
    pairs = instruction_batches(tok, train_ex, BASE_FAMILIES)
    # mix as many 96-token prose windows into the instruction phase (labels = all tokens) so that
    # tiny-b keeps its prose ability (perplexity fixture) while learning the template format
    rng = random.Random(SEED + 22)
    for _ in range(len(pairs)):
        s0 = rng.randrange(0, len(stream) - 97)
        w = stream[s0:s0 + 96].tolist()
        pairs.append((w, list(w)))
    train_instructions(b, pairs, steps=STEPS["b_instr"], lr=1e-3, seed=21, name="tiny-b")
    round_to_bf16(b)
    save_layouts_tiny_b(b)
    check_layouts()


def check_layouts():
    """Reload every saved model layout with transformers; logits must agree."""
    import torch
    from transformers import BloomForCausalLM
    x = torch.tensor([[5, 100, 200, 300, 400, 17, 2, 1000, 1500]])
    for name, layouts in (("tiny-a", ["st-bf16-sharded", "bin-f32"]),
                          ("tiny-b", ["bin-f32-lmhead", "st-f16"])):
        ref = load_tiny(name)
        with torch.no_grad():
            want = ref(x).logits
        for lay in layouts:
            d = OUT / "models" / name / lay
            m = BloomForCausalLM.from_pretrained(str(d), dtype=torch.float32).eval()
            with torch.no_grad():
                got = m(x).logits
            diff = (got - want).abs().max().item()
            tol = 0.0 if lay != "st-f16" else 0.5
            log("layout %s/%s max|dlogit| = %g" % (name, lay, diff))
            assert diff <= tol, (name, lay, diff)


STEPS = {"a_prose": 1500, "b_prose": 1800, "b_instr": 300, "lora": 1500}


# --------------------------------------------------------------------------------------
# Stage: adapters
# --------------------------------------------------------------------------------------

ALL_LINEAR = ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"]


def _randomize_lora_B(pm, seed, std=0.05):
    import torch
    g = torch.Generator().manual_seed(seed)
    n = 0
    with torch.no_grad():
        for name, p in sorted(pm.named_parameters()):
            if "lora_B" in name:
                p.copy_(torch.randn(p.shape, generator=g) * std)
                n += 1
    assert n > 0


def _fix_adapter_config(d: Path, base_name):
    cfg = read_json(d / "adapter_config.json")
    cfg["base_model_name_or_path"] = base_name
    if isinstance(cfg.get("target_modules"), list):   # PEFT stores a set: make the order reproducible
        cfg["target_modules"] = sorted(cfg["target_modules"])
    write_json(d / "adapter_config.json", cfg, indent=2)


def stage_adapters():
    torch = torch_setup()
    from peft import LoraConfig, get_peft_model
    tok = load_tokenizer()
    root = OUT / "adapters"
    for n in ("alpaca-b", "lora-bin-a", "rslora-a"):
        if (root / n).exists():
            shutil.rmtree(root / n)

    # alpaca-b: trained LoRA on the full instruction set (tiny-b itself only saw BASE_FAMILIES)
    torch.manual_seed(SEED + 30)
    base = load_tiny("tiny-b")
    cfg = LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.0, target_modules=ALL_LINEAR,
                     bias="none")
    pm = get_peft_model(base, cfg)
    train_ex, _ = instruction_data()
    pairs = instruction_batches(tok, train_ex, FAMILIES)
    train_instructions(pm, pairs, steps=STEPS["lora"], lr=4e-3, seed=31, name="alpaca-b")
    pm.peft_config["default"].base_model_name_or_path = "bloomkit/tiny-b"
    pm.save_pretrained(str(root / "alpaca-b"))
    _fix_adapter_config(root / "alpaca-b", "bloomkit/tiny-b")

    # lora-bin-a: adapter_model.bin, r 4 alpha 8 on query_key_value + self_attention.dense, random lora_B
    torch.manual_seed(SEED + 40)
    base = load_tiny("tiny-a")
    cfg = LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8, lora_dropout=0.0,
                     target_modules=["query_key_value", "dense"], bias="none")
    pm = get_peft_model(base, cfg)
    _randomize_lora_B(pm, SEED + 41)
    pm.save_pretrained(str(root / "lora-bin-a"), safe_serialization=False)
    _fix_adapter_config(root / "lora-bin-a", "bloomkit/tiny-a")
    assert (root / "lora-bin-a" / "adapter_model.bin").exists()

    # rslora-a: use_rslora, rank/alpha patterns, bias lora_only (random biases saved), random lora_B
    torch.manual_seed(SEED + 50)
    base = load_tiny("tiny-a")
    cfg = LoraConfig(task_type="CAUSAL_LM", r=8, lora_alpha=16, lora_dropout=0.0, target_modules=ALL_LINEAR,
                     use_rslora=True, bias="lora_only",
                     rank_pattern={"h.1.mlp.dense_h_to_4h": 4, "h.0.self_attention.query_key_value": 6},
                     alpha_pattern={"h.1.mlp.dense_h_to_4h": 12, "h.0.self_attention.dense": 4})
    pm = get_peft_model(base, cfg)
    _randomize_lora_B(pm, SEED + 51)
    g = torch.Generator().manual_seed(SEED + 52)
    nb = 0
    with torch.no_grad():
        for name, p in sorted(pm.named_parameters()):
            if name.endswith("base_layer.bias"):
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
                p.copy_(p.to(torch.bfloat16).float())
                nb += 1
    assert nb == 8, nb
    pm.save_pretrained(str(root / "rslora-a"))
    _fix_adapter_config(root / "rslora-a", "bloomkit/tiny-a")
    for n in ("alpaca-b", "lora-bin-a", "rslora-a"):
        check_adapter_nonzero(root / n)


def load_adapter_tensors(d: Path):
    import torch
    from safetensors.torch import load_file
    if (d / "adapter_model.safetensors").exists():
        return load_file(str(d / "adapter_model.safetensors"))
    return torch.load(str(d / "adapter_model.bin"), weights_only=True)


def check_adapter_nonzero(d: Path):
    sd = load_adapter_tensors(d)
    bs = [k for k in sd if "lora_B" in k]
    assert bs and all(sd[k].abs().max().item() > 0 for k in bs), d
    log("%s: %d tensors, lora_B all non-zero" % (d.name, len(sd)))


# --------------------------------------------------------------------------------------
# Stage: a2023 (PEFT 0.2.0 in its own venv)
# --------------------------------------------------------------------------------------

def stage_a2023(args):
    if not args.py2023:
        sys.exit("stage a2023 needs --py2023 PYTHON (or env BLOOMKIT_PEFT02_PYTHON)")
    d = OUT / "adapters" / "lora-2023-a"
    if d.exists():
        shutil.rmtree(d)
    subprocess.run([args.py2023, str(HERE / "generate_2023.py")], check=True,
                   env=dict(os.environ, PYTHONWARNINGS="default", OMP_NUM_THREADS="1"))
    check_adapter_nonzero(d)


# --------------------------------------------------------------------------------------
# Stage: merged
# --------------------------------------------------------------------------------------

ADAPTER_BASE = {"alpaca-b": "tiny-b", "lora-bin-a": "tiny-a", "rslora-a": "tiny-a", "lora-2023-a": "tiny-a"}
CHECK_IDS = [[5, 42, 300, 1200, 17, 999, 64, 3, 1500, 250, 7, 8, 9]]


def merged_model(adapter):
    """(peft_model_logits, merged BloomForCausalLM) for a current-layout adapter."""
    import torch
    from peft import PeftModel
    base = load_tiny(ADAPTER_BASE[adapter])
    pm = PeftModel.from_pretrained(base, str(OUT / "adapters" / adapter)).eval()
    x = torch.tensor(CHECK_IDS)
    with torch.no_grad():
        want = pm(input_ids=x).logits
    m = pm.merge_and_unload().eval()
    with torch.no_grad():
        got = m(input_ids=x).logits
    err = (got - want).abs().max().item()
    log("%s: merged vs PEFT logits max err %.3g" % (adapter, err))
    assert err < 1e-4, err
    return m


def stage_merged():
    import torch
    from safetensors.torch import save_file, load_file
    torch_setup()
    d = OUT / "expected" / "merged"
    d.mkdir(parents=True, exist_ok=True)
    for adapter in ("alpaca-b", "lora-bin-a", "rslora-a"):
        base_sd = load_tiny(ADAPTER_BASE[adapter]).state_dict()
        m = merged_model(adapter)
        changed = {}
        for k, v in m.state_dict().items():
            assert k in base_sd, k
            if not torch.equal(v, base_sd[k]):
                changed[k] = v.detach().float().contiguous().clone()
        assert "lm_head.weight" not in changed
        save_file(changed, str(d / ("%s.safetensors" % adapter)), metadata={"format": "pt"})
        log("%s: %d merged tensors" % (adapter, len(changed)))
    # lora-2023-a: written by generate_2023.py; cross-check here with current torch/transformers:
    # (1) re-derive the merge with numpy from adapter_model.bin, (2) the merged model's logits
    # must equal PEFT 0.2.0's logits with the adapter enabled.
    ad = torch.load(str(OUT / "adapters" / "lora-2023-a" / "adapter_model.bin"), weights_only=True)
    cfg = read_json(OUT / "adapters" / "lora-2023-a" / "adapter_config.json")
    merged = load_file(str(d / "lora-2023-a.safetensors"))
    fwd = load_file(str(d / "lora-2023-a.forward.safetensors"))
    base = load_tiny("tiny-a")
    sd = base.state_dict()
    scaling = cfg["lora_alpha"] / cfg["r"]
    en = cfg["enable_lora"]
    for k, W in merged.items():
        pre = "base_model.model." + k[: -len(".weight")]
        A = ad[pre + ".lora_A.weight"].numpy().astype(np.float64)      # [r*k, in]
        B = ad[pre + ".lora_B.weight"].numpy().astype(np.float64)[:, :, 0]  # [out/3*k, r]
        r = cfg["r"]
        out = sd[k].shape[0]
        blk = out // len(en)
        delta = np.zeros(sd[k].shape)
        g = 0
        for j, e in enumerate(en):
            if e:
                delta[j * blk:(j + 1) * blk] = B[g * blk:(g + 1) * blk] @ A[g * r:(g + 1) * r] * scaling
                g += 1
        err = np.abs(sd[k].numpy() + delta - W.numpy()).max()
        assert err < 1e-6, (k, err)
        sd[k] = W
    base.load_state_dict(sd)
    with torch.no_grad():
        got = base(input_ids=fwd["input_ids"][None]).logits[0]
    err = (got - fwd["logits"]).abs().max().item()
    log("lora-2023-a: merged (current transformers) vs PEFT 0.2.0 logits max err %.3g" % err)
    assert err < 1e-4, err


# --------------------------------------------------------------------------------------
# Stage: tokens
# --------------------------------------------------------------------------------------

TOKEN_TEXTS = [
    "Hello world", " Hello world", "Hello, world! How are you?", "The quick brown fox jumps over the lazy dog.",
    "", " ", "  ", "   leading spaces", "trailing spaces   ", "tab\there", "\t\tdouble tab", "new\nline",
    "two\n\nnewlines", "\r\nwindows line", "mixed \t \n whitespace", "a  b   c    d", "end with newline\n",
    "punctuation!!! ... ??? ,,, !?!?", "ellipsis… and more……", "(parentheses) [brackets] {braces} |pipe|",
    "x|y(z)", "email@example.com http://example.com/path?q=1&r=2",
    "def add(a, b):\n    return a + b\n", "for (int i = 0; i < 10; i++) { x += i; }",
    "let s = \"quoted\"; // comment", "if x == 1 and y != 2:\n\tpass", "1234567890 3.14159 -42 1e-5",
    "今天天气很好，我们去公园散步。", "東京は日本の首都です。", "서울은 한국의 수도입니다.",
    "भारत की राजधानी नई दिल्ली है।", "हिन्दी में लिखा गया वाक्य।",
    "القاهرة هي عاصمة مصر.", "أحب قراءة الكتب، وأحب الكتابة أيضا.", "یہ ایک چھوٹا سا ماڈل ہے۔",
    "I love pizza 🍕 and coffee ☕!", "👨‍👩‍👧‍👦", "👩‍💻 at work", "🇫🇷🇯🇵", "👍🏽👋🏿", "❤️ vs ❤",
    "🏳️‍🌈 flag", "é vs é (composed vs combining)", "Zalgo: Z̷̢a̴l̸g̶o̵", "\u200bzero\u200bwidth\u200b",
    "Привет, мир!", "Καλημέρα κόσμε.", "Größe Straße", "naïve café",
    "<s>hi</s>", "<s> hi </s>", "a<pad>b<unk>c", "</s></s>", "<s", "s>", "<S>hi</S>",
    "\x00\x01 control \x7f", "\u00a0non-breaking\u00a0space", "\u3000ideographic space",
    "  \n  \n", "...", "!!!", "。。。", "，、", "।।", "a.b,c!d?e", "Mr. Smith's 'quote' and \"double\"",
]


def _tok_cases():
    train, held = instruction_data()
    cases = list(TOKEN_TEXTS)
    cases.append(alpaca_prompt(held[0]))
    cases.append(alpaca_prompt([e for e in held if e["input"]][0]))
    cases.append(training_prompt(train[0]) + train[0]["output"] + "</s>")
    cases.append(heldout_prose()[:600])
    return cases


def random_strings(n, seed):
    rng = random.Random(seed)
    pools = {
        "ascii": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        "punct": ".,!?;:'\"()[]{}<>|/\\-_=+*&^%$#@~`…。，、।۔،",
        "ws": [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2028", "   "],
        "cjk": "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年日本語東京",
        "deva": "अआइईउऊएऐओऔकखगघचछजझटठडढतथदधनपफबभमयरलवशषसहािीुूेैोौंः्",
        "arab": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي،؟ًٌٍَُِّْ",
        "emoji": ["😀", "🍕", "🚀", "👍", "👍🏽", "👨‍👩‍👧", "👩‍💻", "🇫🇷", "❤️", "✨", "🏳️‍🌈", "🧑🏿‍🚀"],
        "combining": ["e\u0301", "a\u0308", "n\u0303", "o\u0302\u0323", "Z\u0337\u0322"],
        "words": ["the", "of", "and", "function", "return", "value", "The", " is", "capital", "Response",
                  "###", "<s>", "</s>", "<pad>", "<unk>", "def", "print("],
    }

    def rand_cp():
        while True:
            r = rng.random()
            if r < 0.5:
                c = rng.randrange(0x20, 0x800)
            elif r < 0.8:
                c = rng.randrange(0x800, 0x10000)
            else:
                c = rng.randrange(0x10000, 0x110000)
            if 0xD800 <= c < 0xE000:
                continue
            return chr(c)

    out = []
    for i in range(n):
        parts = []
        for _ in range(rng.randrange(1, 12)):
            kind = rng.choice(["ascii", "ascii", "words", "punct", "ws", "cjk", "deva", "arab", "emoji",
                               "combining", "random"])
            if kind == "random":
                parts.append("".join(rand_cp() for _ in range(rng.randrange(1, 4))))
            elif kind in ("ascii", "cjk", "deva", "arab", "punct"):
                pool = pools[kind]
                parts.append("".join(rng.choice(pool) for _ in range(rng.randrange(1, 8))))
            else:
                parts.append(rng.choice(pools[kind]))
            if rng.random() < 0.4:
                parts.append(" ")
        out.append("".join(parts))
    return out


def tokenize_set(texts):
    tok = load_tokenizer()
    hf = load_hf_tokenizer()
    ids, dec = [], []
    for t in texts:
        e = tok.encode(t, add_special_tokens=True).ids
        assert e == tok.encode(t, add_special_tokens=False).ids      # BLOOM's post-processor adds nothing
        assert e == hf(t)["input_ids"], t
        ids.append(e)
        d = tok.decode(e, skip_special_tokens=False)
        assert d == hf.decode(e, skip_special_tokens=False)
        dec.append(d)
    return ids, dec


def stage_tokens():
    d = OUT / "expected"
    texts = _tok_cases()
    ids, dec = tokenize_set(texts)
    write_json(d / "tokens.json", {
        "note": "tokenizers %s Tokenizer.encode(text, add_special_tokens=True) (== False: the ByteLevel "
                "post-processor adds no specials) and decode(ids, skip_special_tokens=False)" %
                importlib.metadata.version("tokenizers"),
        "texts": texts, "ids": ids, "decoded": dec}, indent=None)
    texts = random_strings(1000, SEED + 99)
    ids, dec = tokenize_set(texts)
    n_rt = sum(a == b for a, b in zip(texts, dec))
    log("tokens-random: %d/%d round-trip exactly" % (n_rt, len(texts)))
    write_json(d / "tokens-random.json", {"seed": SEED + 99, "texts": texts, "ids": ids, "decoded": dec}, indent=None)


# --------------------------------------------------------------------------------------
# Stage: tokvariants (extra tokenizer oracles: cross-split merges, added-token flags, random decode)
# --------------------------------------------------------------------------------------

CROSS_SPLIT_VOCAB = 1000
PUNCT_TEXTS = [
    "Hello , world !", "wait ... what ?!", "so…", "so … and", "end.\nNext", "a , b , c", "x . y", " . ", " , ",
    "...!!!???", "!?!?!?", "Mr. . . done", "e.g. i.e. etc.", "word...word", "hello… world……", "……", "… …",
    "!!!!!!!!", "????", ",,,,", "..", "a.\n\nb.", "It is. It was. It will be.", "(a), [b]; {c}: d",
    "1,000,000.50", "\"quoted.\"", "It's fine, isn't it?", "x?!y", "…。", "。\n。", "！？。，、「」『』（）：；",
    "你好，世界。再见！", "第一、第二、第三。", "東京、大阪，京都。", "तो। फिर।", "वह गया । फिर", "یہ ۔ وہ ، اور",
    "،۔", "end .", "end , then", "the , the . the ! the ?", "  ...  ", "\t.\t", "a\n.\n", "ok!\n", " !",
]


def bloom_pre_tokenizer():
    from tokenizers import Regex, pre_tokenizers
    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(BLOOM_SPLIT_REGEX), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])


def _dump_compact(tok, path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    tj = json.loads(tok.to_str())
    with open(path, "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False, separators=(",", ":"))


def build_cross_split_tokenizer():
    """BPE trained with ByteLevel only (no BLOOM Split), so merges cross the split boundaries; then given
    BLOOM's pipeline. Trained on lines (newline kept) of the same text as the main tokenizer plus PUNCT_TEXTS."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, processors, trainers
    tok = Tokenizer(models.BPE())
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)
    trainer = trainers.BpeTrainer(vocab_size=CROSS_SPLIT_VOCAB, special_tokens=SPECIALS,
                                  initial_alphabet=bytelevel_alphabet(), min_frequency=2, show_progress=False)
    train, _ = instruction_data()
    texts = training_prose() + MULTILINGUAL * 6 + PUNCT_TEXTS * 20 + [training_prompt(e) + e["output"] for e in train[:400]]
    lines = [ln for t in texts for ln in t.splitlines(keepends=True)]
    tok.train_from_iterator(lines, trainer=trainer)
    tok.pre_tokenizer = bloom_pre_tokenizer()
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def _crossing_merges(tok):
    """Merges whose result the BLOOM Split would cut into several pieces."""
    from tokenizers import decoders
    bl = decoders.ByteLevel()
    split = bloom_pre_tokenizer()
    out = []
    for a, b in json.loads(tok.to_str())["model"]["merges"]:
        text = bl.decode([a + b])
        if len(split.pre_tokenize_str(text)) > 1:
            out.append([a, b])
    return out


ADDED_FLAG_TOKENS = [  # (content, special, lstrip, rstrip, single_word, normalized)
    ("<mask>", True, True, False, False, False),
    ("[SEP]", True, False, True, False, False),
    ("<|im_end|>", True, True, True, False, False),
    ("<sw>", True, False, False, True, False),
    ("<norm>", True, False, False, False, True),
    ("hello", False, False, False, True, True),
    ("ing", False, False, False, True, False),
    ("<tool>", False, True, False, False, False),
    ("</tool>", False, False, True, False, True),
    (" world", False, False, False, False, False),
    ("ß", False, False, False, False, True),
    ("💡", False, False, False, False, False),
    ("a b", False, False, False, False, False),
    ("the", False, False, False, True, False),
]
ADDED_FLAG_TEXTS = [
    "<mask>", " <mask>", "a <mask> b", "a<mask>b", "a   <mask>   b", "\n<mask>\n", "<mask><mask>", "<mask> <mask>",
    "[SEP] x", "x [SEP]  y", "x[SEP]y", "x [SEP]\n\ny", "a <|im_end|> b", "a<|im_end|>b", "a  <|im_end|>  b",
    "<sw>", "a<sw>b", "a <sw> b", "<sw>x", "x<sw>", "<norm> x", "x<norm>", "hello world", "hellohello", "say hello!",
    "ahello", "hello,hello", "hello\nhello", "Hello hello", "singing", "sing ing", "ing", " ing ", "ing.",
    "<tool>call</tool>", "x <tool> y </tool> z", "x  <tool>  y  </tool>  z", " world", "hello world world",
    "big world", "world", "Straße ß", "ßß", "💡 idea 💡💡", "a💡b", "a b", "a  b", "ab", "a b a b",
    "the other theme", "bathe", "the", " the ", "the.", "<s><mask></s>", "<s> hello </s>", "\t[SEP]\t",
    "<MASK> <Mask>", "hello <mask> world [SEP] the <tool>ing</tool> ß💡",
]


def build_added_flags_tokenizer():
    from tokenizers import AddedToken
    tok = load_tokenizer()
    for content, special, lstrip, rstrip, single_word, normalized in ADDED_FLAG_TOKENS:
        t = AddedToken(content, single_word=single_word, lstrip=lstrip, rstrip=rstrip, normalized=normalized,
                       special=special)
        (tok.add_special_tokens if special else tok.add_tokens)([t])
    return tok


def _check_with_transformers(path: Path, tok, texts, ids):
    """transformers' PreTrainedTokenizerFast over the same tokenizer.json must give the same ids and texts."""
    from transformers import PreTrainedTokenizerFast
    hf = PreTrainedTokenizerFast(tokenizer_file=str(path))
    for t, e in zip(texts, ids):
        assert hf(t, add_special_tokens=False)["input_ids"] == e, t
        for skip in (False, True):
            assert hf.decode(e, skip_special_tokens=skip) == tok.decode(e, skip_special_tokens=skip), t


def random_id_sequences(tok, n, seed):
    """Id sequences over the main tokenizer, rich in single-byte tokens (lone continuation/lead bytes)."""
    from tokenizers import pre_tokenizers
    rng = random.Random(seed)
    byte_of = _bytelevel_bytes()
    assert set(byte_of) == set(pre_tokenizers.ByteLevel.alphabet())
    byte_ids = {b: tok.token_to_id(ch) for ch, b in byte_of.items()}
    cont = [byte_ids[b] for b in range(0x80, 0xC0)]
    lead = [byte_ids[b] for b in range(0xC0, 0x100)]
    vocab = tok.get_vocab_size()
    first_merged = 4 + 256          # ids 4..259 are the single-byte tokens
    assert sorted(byte_ids.values()) == list(range(4, first_merged))
    out = []
    for k in range(n):
        merged_only = k % 3 == 0       # every third sequence: merged tokens only
        seq = []
        for _ in range(rng.randrange(1, 24)):
            r = rng.random()
            if merged_only:
                seq.append(rng.randrange(first_merged, vocab))
            elif r < 0.45:
                seq.append(rng.randrange(4, vocab))
            elif r < 0.7:
                seq.append(rng.choice(cont))
            elif r < 0.9:
                seq.append(rng.choice(lead))
            else:
                seq.append(rng.randrange(0, 4))
        out.append(seq)
    return out


def _bytelevel_bytes():
    """{ByteLevel alphabet character: the byte it stands for} (GPT-2's bytes_to_unicode, inverted)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + len(cs) - 188)
    return {chr(c): b for c, b in zip(cs, bs)}


def stage_tokvariants():
    # training_prose() depends on what is imported (importing transformers adds 3 docstrings); import it first,
    # as stage_data does, so that the text is the same whichever stages run before this one.
    import transformers  # noqa: F401
    from tokenizers import Tokenizer
    tv = importlib.metadata.version("tokenizers")
    # (a) cross-split merges
    tok = build_cross_split_tokenizer()
    path = OUT / "tokenizer" / "cross-split" / "tokenizer.json"
    _dump_compact(tok, path)
    tok = Tokenizer.from_file(str(path))
    crossing = _crossing_merges(tok)
    texts = TOKEN_TEXTS + PUNCT_TEXTS + random_strings(300, SEED + 301)
    ids = [tok.encode(t).ids for t in texts]
    dec = [tok.decode(e, skip_special_tokens=False) for e in ids]
    _check_with_transformers(path, tok, texts, ids)
    write_json(OUT / "expected" / "tokens-cross-split.json", {
        "note": "tokenizer/cross-split/tokenizer.json: BPE trained by tokenizers %s with a ByteLevel-only "
                "pre-tokenizer (no Split), saved with BLOOM's pipeline. ids = encode(text, add_special_tokens=True)"
                ".ids, decoded = decode(ids, skip_special_tokens=False). %d of its %d merges join text that BLOOM's "
                "Split cuts into several pieces (listed in crossing_merges); they can never apply."
                % (tv, len(crossing), len(json.loads(tok.to_str())["model"]["merges"])),
        "crossing_merges": crossing, "texts": texts, "ids": ids, "decoded": dec}, indent=None)
    log("cross-split: %d tokens, %d crossing merges" % (tok.get_vocab_size(), len(crossing)))
    # (b) added-token flags
    tok = build_added_flags_tokenizer()
    path = OUT / "tokenizer" / "added-flags" / "tokenizer.json"
    _dump_compact(tok, path)
    tok = Tokenizer.from_file(str(path))
    texts = ADDED_FLAG_TEXTS
    ids = [tok.encode(t).ids for t in texts]
    _check_with_transformers(path, tok, texts, ids)
    write_json(OUT / "expected" / "tokens-added-flags.json", {
        "note": "tokenizer/added-flags/tokenizer.json = tokenizer/tokenizer.json + added tokens (tokens field; "
                "add_special_tokens for special ones, add_tokens otherwise, in that order), tokenizers %s. "
                "ids = encode(text).ids; decoded / decoded_skip_special = decode(ids, skip_special_tokens=False/True)"
                % tv,
        "tokens": [{"content": c, "id": tok.token_to_id(c), "special": sp, "lstrip": ls, "rstrip": rs,
                    "single_word": sw, "normalized": nm} for c, sp, ls, rs, sw, nm in ADDED_FLAG_TOKENS],
        "texts": texts, "ids": ids,
        "tokens_of_ids": [tok.encode(t).tokens for t in texts],
        "decoded": [tok.decode(e, skip_special_tokens=False) for e in ids],
        "decoded_skip_special": [tok.decode(e, skip_special_tokens=True) for e in ids]}, indent=None)
    # (c) random id sequences through the main tokenizer's decoder
    tok = load_tokenizer()
    seqs = random_id_sequences(tok, 300, SEED + 302)
    text = [tok.decode(e, skip_special_tokens=False) for e in seqs]
    skip = [tok.decode(e, skip_special_tokens=True) for e in seqs]
    hf = load_hf_tokenizer()
    assert text == [hf.decode(e, skip_special_tokens=False) for e in seqs]
    n_bad = sum("\ufffd" in t for t in text)
    write_json(OUT / "expected" / "decode-random.json", {
        "note": "tokenizers %s Tokenizer.decode(ids, skip_special_tokens=False) (text) and True (text_skip_special) "
                "of tokenizer/tokenizer.json; %d of %d texts contain U+FFFD" % (tv, n_bad, len(seqs)),
        "seed": SEED + 302, "ids": seqs, "text": text, "text_skip_special": skip}, indent=None)
    log("decode-random: %d/%d with U+FFFD" % (n_bad, len(seqs)))


# --------------------------------------------------------------------------------------
# Stage: generate
# --------------------------------------------------------------------------------------

PLAIN_PROMPTS = ["Return a new list", "The default value of the", "This module provides",
                 "If the file does not exist,", "東京は日本の"]


def demo_example():
    """The instruction used by the README demo (held out: this phrasing of this fact was not trained on)."""
    _, held = instruction_data()
    return [e for e in held if e["family"] == DEMO_FAMILY and not e["input"]][DEMO_INDEX]


DEMO_FAMILY, DEMO_INDEX = "capital", 0


def generation_prompts():
    _, held = instruction_data()
    prompts = [{"kind": "plain", "prompt": p} for p in PLAIN_PROMPTS]
    picked, seen = [], set()
    for ex in held:   # one held-out example per family, plus with-input ones
        key = (ex["family"], bool(ex["input"]))
        if key in seen:
            continue
        seen.add(key)
        picked.append(ex)
    demo = demo_example()
    if demo not in picked:
        picked.insert(0, demo)
    for ex in picked:
        prompts.append({"kind": "alpaca-input" if ex["input"] else "alpaca", "prompt": alpaca_prompt(ex),
                        "instruction": ex["instruction"], "input": ex["input"], "reference_output": ex["output"],
                        "demo": ex == demo})
    return prompts


SEED_CASES = [("capital", False), ("opposite", False), ("list3", False), ("plural", True)]  # demo first


def seed_prompts():
    """kind "alpaca-seed": the demo instruction and three other held-out ones in the seed card's template."""
    _, held = instruction_data()
    out = []
    for family, with_input in SEED_CASES:
        ex = demo_example() if family == DEMO_FAMILY else \
            [e for e in held if e["family"] == family and bool(e["input"]) == with_input][0]
        prompt = seed_prompt(ex)
        out.append({"kind": "alpaca-seed", "prompt": prompt, "instruction": ex["instruction"], "input": ex["input"],
                    "reference_output": ex["output"], "demo": ex == demo_example()})
    assert out[0]["demo"] and out[0]["instruction"] == "What is the capital of France?"
    return out


def f32_list(a):
    """float32 values as the shortest decimals that parse back (via f64) to the same float32 bits."""
    out = []
    for v in np.asarray(a, dtype=np.float32).reshape(-1):
        f = float(repr(v).replace("np.float32(", "").rstrip(")"))
        assert np.float32(f).tobytes() == v.tobytes()
        out.append(f)
    return out


def run_generation(model, tok, prompts, logits_for):
    import torch
    from transformers import GenerationConfig
    greedy_cfg = GenerationConfig(max_new_tokens=24, do_sample=False, num_beams=1, eos_token_id=EOS,
                                  pad_token_id=PAD, bos_token_id=BOS)
    beam_cfg = GenerationConfig(max_new_tokens=16, do_sample=False, num_beams=4, length_penalty=1.0,
                                early_stopping=False, num_return_sequences=1, eos_token_id=EOS,
                                pad_token_id=PAD, bos_token_id=BOS)
    cases = []
    for i, p in enumerate(prompts):
        ids = tok.encode(p["prompt"]).ids
        x = torch.tensor([ids])
        mask = torch.ones_like(x)
        case = dict(p)
        case["prompt_ids"] = ids
        with torch.no_grad():
            if i in logits_for:
                case["last_logits"] = f32_list(model(input_ids=x).logits[0, -1].float().numpy())
            g = model.generate(x, attention_mask=mask, generation_config=greedy_cfg)[0, len(ids):].tolist()
            b = model.generate(x, attention_mask=mask, generation_config=beam_cfg)[0, len(ids):].tolist()
        for seq in (g, b):
            assert PAD not in seq
            assert EOS not in seq[:-1]
        case["greedy_ids"] = g
        case["greedy_stopped_at_eos"] = bool(g and g[-1] == EOS)
        case["greedy_text"] = tok.decode(g, skip_special_tokens=False)
        case["beam4_ids"] = b
        case["beam4_stopped_at_eos"] = bool(b and b[-1] == EOS)
        case["beam4_text"] = tok.decode(b, skip_special_tokens=False)
        cases.append(case)
    return cases


def stage_generate():
    torch_setup()
    tok = load_tokenizer()
    prompts = generation_prompts()
    # last_logits for: the first plain prompt, the demo prompt, the first Alpaca prompt with input
    logits_for = {0, [p.get("demo") for p in prompts].index(True),
                  [p["kind"] for p in prompts].index("alpaca-input")}
    d = OUT / "expected" / "generate"
    models = [("tiny-a", lambda: load_tiny("tiny-a")), ("tiny-b", lambda: load_tiny("tiny-b")),
              ("alpaca-b-merged", lambda: merged_model("alpaca-b"))]
    for name, mk in models:
        m = mk()
        cases = run_generation(m, tok, prompts, logits_for)
        if name != "tiny-a":   # appended after the Stanford-template cases (indices of those stay the same)
            cases += run_generation(m, tok, seed_prompts(), {0})
        meta = {"model": name, "weights": {
                    "tiny-a": "models/tiny-a/bin-f32 (f32, bf16-representable values)",
                    "tiny-b": "models/tiny-b/bin-f32-lmhead (f32, bf16-representable values)",
                    "alpaca-b-merged": "tiny-b + adapters/alpaca-b merged in f32 by PEFT merge_and_unload"}[name],
                "transformers": importlib.metadata.version("transformers"), "torch": importlib.metadata.version("torch"),
                "greedy": "generate(max_new_tokens=24, do_sample=False, num_beams=1)",
                "beam4": "generate(max_new_tokens=16, do_sample=False, num_beams=4, length_penalty=1.0, "
                         "early_stopping=False, num_return_sequences=1)",
                "ids": "generated ids only (prompt excluded); a trailing 2 (</s>) is kept when generation stopped on eos"}
        if name != "tiny-a":
            meta["alpaca_seed"] = ("kind alpaca-seed cases (appended last): the seed card's template (single newlines, "
                                   "as stored in bloomkit GGUF files); the instruction training used it for half of the examples; "
                                   "last_logits for the demo one")
        write_json(d / ("%s.json" % name), {"meta": meta, "cases": cases}, indent=None)
        for c in cases:
            if c["kind"] != "plain":
                log("%s | %s -> %r" % (name, c["instruction"], c["greedy_text"]))
            else:
                log("%s | %r -> %r" % (name, c["prompt"], c["greedy_text"]))


# --------------------------------------------------------------------------------------
# Stage: ppl
# --------------------------------------------------------------------------------------

PPL_CTX = 64


def stage_ppl():
    import torch
    torch_setup()
    d = OUT / "expected" / "perplexity"
    d.mkdir(parents=True, exist_ok=True)
    text = heldout_prose()
    (d / "heldout.txt").write_text(text, encoding="utf-8")
    tok = load_tokenizer()
    ids = tok.encode(text).ids
    n_chunks = len(ids) // PPL_CTX
    model = load_tiny("tiny-b")
    first = PPL_CTX // 2
    chunks = []
    nll_half, cnt_half, nll_all, cnt_all = 0.0, 0, 0.0, 0
    for c in range(n_chunks):
        x = torch.tensor([ids[c * PPL_CTX:(c + 1) * PPL_CTX]])
        with torch.no_grad():
            logp = torch.log_softmax(model(input_ids=x).logits[0].double(), dim=-1)
        tgt = x[0, 1:]
        tok_nll = -logp[:-1].gather(1, tgt[:, None])[:, 0]          # nll of token j+1 given 0..j
        half = tok_nll[first:]                                         # logits at positions first..ctx-2
        nll_half += half.sum().item()
        cnt_half += len(half)
        nll_all += tok_nll.sum().item()
        cnt_all += len(tok_nll)
        chunks.append({"chunk": c, "nll_second_half": half.sum().item(), "n_second_half": len(half),
                       "nll_all": tok_nll.sum().item(), "n_all": len(tok_nll)})
    res = {
        "model": "tiny-b (models/tiny-b/bin-f32-lmhead, f32)", "file": "heldout.txt", "n_ctx": PPL_CTX,
        "n_tokens": len(ids), "n_chunks": n_chunks, "token_ids": ids,
        "method": "Tokenize the whole file once (no BOS/EOS added). Split into floor(n_tokens/n_ctx) non-overlapping "
                  "chunks of n_ctx tokens (the remainder is dropped); each chunk is evaluated alone (fresh context). "
                  "Logits are computed in f32 by transformers; log-softmax in f64. "
                  "'second_half' mirrors llama-perplexity: in each chunk only the logits at positions "
                  "first=n_ctx/2 .. n_ctx-2 are scored, each predicting the next token (positions first+1 .. "
                  "n_ctx-1), i.e. n_ctx/2-1 tokens per chunk; PPL = exp(sum nll / count). 'all' scores every "
                  "position 0..n_ctx-2 (predicting tokens 1..n_ctx-1; the first token of a chunk is never scored).",
        "ppl_second_half": math.exp(nll_half / cnt_half), "count_second_half": cnt_half,
        "ppl_all": math.exp(nll_all / cnt_all), "count_all": cnt_all,
        "chunks": chunks,
    }
    write_json(d / "tiny-b.json", res, indent=None)
    log("perplexity tiny-b: %d bytes, %d tokens, second-half %.3f, all %.3f" %
        (len(text.encode()), len(ids), res["ppl_second_half"], res["ppl_all"]))


# --------------------------------------------------------------------------------------
# Stage: inspect
# --------------------------------------------------------------------------------------

ST_DTYPES = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "I8": 1, "BOOL": 1, "F64": 8}
STORAGE_DTYPES = {"FloatStorage": ("F32", 4), "HalfStorage": ("F16", 2), "BFloat16Storage": ("BF16", 2),
                  "LongStorage": ("I64", 8), "IntStorage": ("I32", 4), "DoubleStorage": ("F64", 8),
                  "ByteStorage": ("U8", 1), "CharStorage": ("I8", 1), "BoolStorage": ("BOOL", 1)}
INSPECT_DIRS = ["models/tiny-a/st-bf16-sharded", "models/tiny-a/bin-f32", "models/tiny-b/bin-f32-lmhead",
                "models/tiny-b/st-f16", "adapters/alpaca-b", "adapters/lora-bin-a", "adapters/rslora-a",
                "adapters/lora-2023-a"]


def inspect_safetensors(path: Path):
    from safetensors import safe_open
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", None)
    rows = []
    with safe_open(str(path), framework="np") as f:
        assert sorted(f.keys()) == sorted(header)
        for name, h in header.items():
            begin, end = h["data_offsets"]
            t = f.get_slice(name)
            assert list(t.get_shape()) == h["shape"] and t.get_dtype() == h["dtype"]
            rows.append({"name": name, "dtype": h["dtype"], "shape": h["shape"], "file": path.name,
                         "offset": 8 + n + begin, "nbytes": end - begin})
            assert end - begin == ST_DTYPES[h["dtype"]] * int(np.prod(h["shape"], dtype=np.int64))
    return rows, {"header_len": n, "metadata": meta}


class _TensorRec:
    def __init__(self, storage, offset, size, stride, requires_grad, hooks, metadata=None):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


class _StorageType:
    def __init__(self, name):
        self.name = name


class _RecordingUnpickler(__import__("pickle").Unpickler):
    """Reads our own torch.save files without torch, recording storage keys (never used on hostile files)."""

    def find_class(self, module, name):
        import collections
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _TensorRec
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise ValueError("unexpected global %s.%s" % (module, name))

    def persistent_load(self, pid):
        return pid


def zip_entries(path: Path):
    out = {}
    with open(path, "rb") as fh, zipfile.ZipFile(path) as z:
        for info in z.infolist():
            fh.seek(info.header_offset)
            lh = fh.read(30)
            sig, _, flags, method, _, _, _, _, _, nlen, elen = struct.unpack("<IHHHHHIIIHH", lh)
            assert sig == 0x04034B50 and method == 0
            out[info.filename] = {"offset": info.header_offset + 30 + nlen + elen, "size": info.file_size,
                                  "flags": flags}
    return out


def inspect_torch_bin(path: Path):
    import torch
    ents = zip_entries(path)
    prefix = next(iter(ents)).split("/")[0]
    with zipfile.ZipFile(path) as z:
        obj = _RecordingUnpickler(io.BytesIO(z.read(prefix + "/data.pkl"))).load()
    ref = torch.load(str(path), weights_only=True)
    raw = path.read_bytes()
    rows = []
    for name, rec in obj.items():
        _, stype, key, location, numel = rec.storage
        dtype, es = STORAGE_DTYPES[stype.name]
        ent = ents["%s/data/%s" % (prefix, key)]
        assert ent["size"] == numel * es
        nel = int(np.prod(rec.size, dtype=np.int64))
        off = ent["offset"] + rec.offset * es
        t = ref[name]
        assert list(t.shape) == list(rec.size) and t.is_contiguous()
        assert raw[off:off + nel * es] == t.contiguous().view(torch.uint8).numpy().tobytes() if nel else True
        rows.append({"name": name, "dtype": dtype, "shape": list(rec.size), "file": path.name, "offset": off,
                     "nbytes": nel * es, "storage_key": key, "storage_offset": rec.offset,
                     "storage_numel": numel, "stride": list(rec.stride), "location": location})
    return rows, {"archive_prefix": prefix,
                  "entries": [{"name": k, "offset": v["offset"], "size": v["size"]} for k, v in ents.items()]}


def stage_inspect():
    torch_setup()
    d = OUT / "expected" / "inspect"
    if d.exists():
        shutil.rmtree(d)
    for rel in INSPECT_DIRS:
        folder = OUT / rel
        files = sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin"))
        tensors, per_file = [], {}
        for f in files:
            rows, info = inspect_safetensors(f) if f.suffix == ".safetensors" else inspect_torch_bin(f)
            tensors += rows
            per_file[f.name] = dict(info, size=f.stat().st_size)
        res = {"path": rel, "kind": "adapter" if rel.startswith("adapters/") else "model",
               "files": per_file, "tensors": tensors}
        for idx in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
            if (folder / idx).exists():
                res["index"] = {"file": idx, "weight_map": read_json(folder / idx)["weight_map"]}
        if (folder / "config.json").exists():
            cfg = read_json(folder / "config.json")
            res["config"] = cfg
            res["summary"] = {k: cfg.get(k) for k in ("model_type", "vocab_size", "hidden_size", "n_layer", "n_head",
                                                        "layer_norm_epsilon", "bos_token_id", "eos_token_id",
                                                        "pad_token_id", "unk_token_id", "dtype")}
        if (folder / "adapter_config.json").exists():
            cfg = read_json(folder / "adapter_config.json")
            res["config"] = cfg
            res["summary"] = {k: cfg.get(k) for k in ("peft_type", "base_model_name_or_path", "r", "lora_alpha",
                                                        "target_modules", "bias", "use_rslora", "fan_in_fan_out",
                                                        "enable_lora", "rank_pattern", "alpha_pattern")}
        res["summary"]["n_tensors"] = len(tensors)
        write_json(d / (rel.replace("/", "_") + ".json"), res, indent=1)
        log("inspect %s: %d tensors in %d files" % (rel, len(tensors), len(files)))


# --------------------------------------------------------------------------------------
# Stage: quant
# --------------------------------------------------------------------------------------

def _f32(bits):
    return np.array([bits], dtype=np.uint32).view(np.float32)[0]


def quant_rows():
    """(description, 256 float32 values) rows for the quantization oracles."""
    import torch
    rng = np.random.default_rng(SEED + 200)
    rows = []
    sd = torch.load(str(OUT / "models" / "tiny-a" / "bin-f32" / "pytorch_model.bin"), weights_only=True)
    for name, sl in (("h.0.self_attention.query_key_value.weight", slice(0, 4)),
                     ("h.1.mlp.dense_h_to_4h.weight", slice(8, 12)),
                     ("h.1.mlp.dense_4h_to_h.weight", slice(0, 1)),
                     ("word_embeddings.weight", slice(40, 44))):
        v = sd[name][sl].reshape(-1)[:256].numpy().astype(np.float32)
        rows.append(("tiny-a %s rows %d..%d flattened" % (name, sl.start, sl.stop - 1), v))
    rows.append(("all zeros", np.zeros(256, np.float32)))
    # Q8_0 ties: amax 127 -> d = 1 exactly, x*id lands on k+0.5 -> roundf rounds half away from zero
    t = np.array([127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5, -126.5, 3.5, -3.5, 0.25, -0.75, 64.5, -64.5, 100.5] * 2,
                 np.float32)
    rows.append(("Q8_0 rounding ties (amax 127, d=1, values k+0.5)", np.tile(t, 8)))
    # Q4_0 ties: first max-|x| element -8 -> d = 1, id = 1, x + 8.5 lands on integers / clamp at 15
    b1 = np.array([-8, -0.5, 0.5, 6.5, 7.5, 7, -7.5, -7, 1.5, -1.5, 2.5, -2.5, 3.49, -3.51, 0, 8] * 2, np.float32)
    b2 = -b1   # first max-|x| element +8 -> d = -1
    rows.append(("Q4_0 boundary values (max -8 -> d=1; then max +8 -> d=-1), incl. +8 that clamps to 15",
                 np.tile(np.concatenate([b1, b2]), 4)))
    # Q4_1 ties: min 0 max 15 -> d = 1, (x-min)*id + 0.5 lands on integers
    b = np.array([0, 15, 0.5, 1.5, 2.5, 13.5, 14.5, 7.5, 8.5, 3, 4, 5, 6, 9, 10, 11] * 2, np.float32)
    rows.append(("Q4_1 rounding ties (min 0, max 15, d=1, values k+0.5)", np.tile(np.concatenate([b, b - 7.5]), 4)))
    v = (rng.standard_normal(256) * 1e-3).astype(np.float32)
    v[5] = 1000.0
    v[200] = -1000.0
    rows.append(("one huge value (+-1000) among tiny ones (1e-3) in blocks 0 and 6", v))
    sub = np.array([_f32(1), _f32(0x80000001), _f32(0x00400000), _f32(0x807fffff), 1e-40, -3e-39, 1e-30, -1e-30],
                   np.float32)
    rows.append(("subnormals mixed with tiny normals (amax 1e-30, so 1/d stays finite)", np.tile(sub, 32)))
    v = (rng.standard_normal(256)).astype(np.float32)
    for blk in range(8):
        v[blk * 32 + 3] = -abs(v[blk * 32: blk * 32 + 32]).max() * 1.5
    rows.append(("negative max in every block", v))
    rows.append(("alternating signs +-k/7", np.array([(1 if i % 2 == 0 else -1) * (i % 17) / 7 for i in range(256)],
                                                      np.float32)))
    v = (rng.uniform(-1, 1, 256)).astype(np.float32)
    for blk in range(8):
        s = 1 if blk % 2 == 0 else -1
        v[blk * 32 + 2] = 3.0 * s
        v[blk * 32 + 20] = -3.0 * s
    rows.append(("same magnitude, different sign in one block (+3 first in even blocks, -3 first in odd)", v))
    rows.append(("constant 0.3 (Q4_1 d = 0)", np.full(256, 0.3, np.float32)))
    v = (rng.uniform(-1, 1, 256) * 60000).astype(np.float32)
    rows.append(("large values up to +-60000 (f16 range edge)", v))
    for k, sc in enumerate((1.0, 0.02, 37.0)):
        rows.append(("gaussian * %g" % sc, (rng.standard_normal(256) * sc).astype(np.float32)))
    return rows


def nonfinite_rows():
    """(description, 256 float32 values) rows where some blocks hold NaN / +Inf / -Inf (or overflow f16's d)."""
    rng = np.random.default_rng(SEED + 201)
    nan, inf = np.float32("nan"), np.float32("inf")
    rows = []

    def row(desc, edits):
        v = rng.standard_normal(256).astype(np.float32)
        for i, x in edits:
            v[i] = x
        rows.append((desc, v))

    row("one NaN in block 0 (index 5)", [(5, nan)])
    row("+Inf in block 1 (index 40)", [(40, inf)])
    row("-Inf in block 2 (index 70)", [(70, -inf)])
    row("+Inf and -Inf in block 3 (indices 100, 101)", [(100, inf), (101, -inf)])
    row("NaN first, then +Inf, in block 4 (indices 128, 140)", [(128, nan), (140, inf)])
    row("+Inf first, then NaN, in block 5 (indices 161, 170)", [(161, inf), (170, nan)])
    row("block 6 all NaN (indices 192..223)", [(i, nan) for i in range(192, 224)])
    row("negative NaN (bits 0xFFC00000) in block 7 (index 230) and -Inf in block 0 (index 0)",
        [(230, _f32(0xFFC00000)), (0, -inf)])
    row("finite but d overflows f16: block 0 has 1e38, block 1 has -3e38, block 2 has f32 max",
        [(3, np.float32(1e38)), (33, np.float32(-3e38)), (64, _f32(0x7F7FFFFF))])
    row("block 3 all +Inf, block 4 all -Inf", [(i, inf) for i in range(96, 128)] + [(i, -inf) for i in range(128, 160)])
    return rows


def _quant_nonfinite(d: Path):
    """expected/quant/nonfinite.*: what gguf-py does with NaN/Inf (numpy semantics; see the README)."""
    import gguf
    from gguf import GGMLQuantizationType as Q
    rows = nonfinite_rows()
    arr = np.stack([r[1] for r in rows]).astype(np.float32)
    arr.astype("<f4").tofile(d / "nonfinite.f32")
    files = {}
    with np.errstate(all="ignore"), warnings.catch_warnings():   # numpy warns on NaN/Inf -> int casts
        warnings.simplefilter("ignore")
        for qname, qt in (("q8_0", Q.Q8_0), ("q4_0", Q.Q4_0), ("q4_1", Q.Q4_1)):
            q = gguf.quants.quantize(arr, qt)
            q.tofile(d / ("nonfinite.%s.bin" % qname))
            deq = gguf.quants.dequantize(q, qt).astype("<f4")
            deq.tofile(d / ("nonfinite.%s.dequant.f32" % qname))
            bs, ts = gguf.GGML_QUANT_SIZES[qt]
            qb = q.reshape(arr.shape[0], 256 // bs, ts)
            dvals = qb[..., 0:2].copy().view("<f2")[..., 0].astype(np.float32)
            files[qname] = {"file": "nonfinite.%s.bin" % qname, "dequantized": "nonfinite.%s.dequant.f32" % qname,
                            "ggml_type": int(qt), "block_size": bs, "type_size": ts,
                            "d_f16_bits": [[int(x) for x in r] for r in qb[..., 0:2].copy().view("<u2")[..., 0]],
                            "nonfinite_d_blocks": [[int(b) for b in np.nonzero(~np.isfinite(r))[0]] for r in dvals]}
    write_json(d / "nonfinite.json", {
        "inputs": "nonfinite.f32", "rows": int(arr.shape[0]), "cols": 256, "dtype": "little-endian float32, row-major",
        "row_descriptions": [r[0] for r in rows],
        "quantized": files,
        "method": "gguf-py %s gguf.quants.quantize / dequantize as for inputs.f32 (numpy float32, NaN-propagating "
                  "max/argmax; NaN/Inf cast to int8/uint8 as numpy does on x86-64), run on the machine in "
                  "README.md" % importlib.metadata.version("gguf"),
    }, indent=1)


CONVERSION_SPECIALS = [
    ("+0", 0x00000000), ("-0", 0x80000000), ("+inf", 0x7F800000), ("-inf", 0xFF800000),
    ("quiet NaN", 0x7FC00000), ("negative quiet NaN", 0xFFC00000), ("signalling NaN payload 1", 0x7F800001),
    ("NaN payload in low 16 bits only", 0x7F80FFFF), ("f32 max", 0x7F7FFFFF), ("-f32 max", 0xFF7FFFFF),
    ("f32 min normal", 0x00800000), ("f32 min subnormal", 0x00000001), ("f32 max subnormal", 0x007FFFFF),
    ("-f32 subnormal", 0x80400000), ("1.0", 0x3F800000), ("-1.0", 0xBF800000),
    ("f16 max 65504", None, 65504.0), ("65519 (rounds to f16 max)", None, 65519.0),
    ("65520 (rounds to f16 inf)", None, 65520.0), ("1e6 (f16 overflow)", None, 1e6),
    ("f16 min normal 2^-14", None, 2.0 ** -14), ("f16 min subnormal 2^-24", None, 2.0 ** -24),
    ("2^-25 (f16 tie to 0)", None, 2.0 ** -25), ("3*2^-25 (f16 tie to 2*2^-24)", None, 3 * 2.0 ** -25),
    ("1+2^-11 (f16 tie to even, down)", None, 1 + 2.0 ** -11), ("1+3*2^-11 (f16 tie to even, up)", None, 1 + 3 * 2.0 ** -11),
    ("1+2^-8 (bf16 tie to even, down)", 0x3F808000), ("1+3*2^-8 (bf16 tie to even, up)", 0x3F818000),
    ("bf16 just above tie", 0x3F808001), ("bf16 just below tie", 0x3F807FFF),
    ("bf16 rounds to inf", 0x7F7FFFFF), ("0.1", None, 0.1), ("-2.5", None, -2.5), ("pi", None, math.pi),
]


def stage_quant():
    import gguf
    import torch
    from gguf import GGMLQuantizationType as Q
    d = OUT / "expected" / "quant"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    rows = quant_rows()
    arr = np.stack([r[1] for r in rows]).astype(np.float32)
    assert arr.shape[1] == 256
    arr.astype("<f4").tofile(d / "inputs.f32")
    files = {}
    for qname, qt in (("q8_0", Q.Q8_0), ("q4_0", Q.Q4_0), ("q4_1", Q.Q4_1)):
        q = gguf.quants.quantize(arr, qt)
        q.tofile(d / ("%s.bin" % qname))
        deq = gguf.quants.dequantize(q, qt).astype("<f4")
        assert deq.shape == arr.shape
        deq.tofile(d / ("%s.dequant.f32" % qname))
        bs, ts = gguf.GGML_QUANT_SIZES[qt]
        files[qname] = {"file": "%s.bin" % qname, "dequantized": "%s.dequant.f32" % qname, "ggml_type": int(qt),
                        "block_size": bs, "type_size": ts, "bytes_per_row": 256 // bs * ts, "nbytes": q.nbytes}
    # conversions of specials + the same inputs
    vals = []
    for sp in CONVERSION_SPECIALS:
        vals.append(_f32(sp[1]) if sp[1] is not None else np.float32(sp[2]))
    specials = np.array(vals, dtype=np.float32)
    conv_in = np.concatenate([specials, arr.reshape(-1)]).astype(np.float32)
    conv_in.astype("<f4").tofile(d / "conv-inputs.f32")
    with np.errstate(over="ignore"):
        f16 = conv_in.astype(np.float16)
    f16.astype("<f2").tofile(d / "f16.bin")
    bf16 = gguf.quants.quantize(conv_in, Q.BF16)
    bf16.tofile(d / "bf16.bin")
    tb = torch.from_numpy(conv_in.copy()).to(torch.bfloat16).view(torch.int16).numpy().astype("<i2")
    tb.tofile(d / "bf16-torch.bin")
    bits = lambda a, dt: [int(x) for x in a.view(dt)]  # noqa: E731
    write_json(d / "quant.json", {
        "inputs": "inputs.f32", "rows": int(arr.shape[0]), "cols": 256, "dtype": "little-endian float32, row-major",
        "row_descriptions": [r[0] for r in rows],
        "quantized": files,
        "method": "gguf-py %s gguf.quants.quantize(inputs, GGMLQuantizationType.X) over the whole [rows, 256] array "
                  "(blocks of 32 along each row); dequantized = gguf.quants.dequantize of those bytes. "
                  "gguf-py Q4_0/Q4_1 compute x*id and the +8.5/+0.5 as separate float32 operations (no fused "
                  "multiply-add), then trunc and clamp to 0..15; Q8_0 rounds half away from zero."
                  % importlib.metadata.version("gguf"),
    }, indent=1)
    write_json(d / "conversions.json", {
        "inputs": "conv-inputs.f32", "count": int(conv_in.size),
        "layout": "the %d special values below, then every value of inputs.f32 in order" % len(specials),
        "specials": [{"index": i, "description": sp[0], "f32_bits": int(specials.view(np.uint32)[i])}
                     for i, sp in enumerate(CONVERSION_SPECIALS)],
        "outputs": {
            "f16.bin": "numpy astype(float16): IEEE round-to-nearest-even, overflow -> inf, NaN stays NaN "
                       "(payload/sign per numpy); little-endian u16 bits",
            "bf16.bin": "gguf-py quants.quantize(x, BF16) (= ggml_compute_fp32_to_bf16): NaN forced quiet "
                        "((u & 0xffff0000) | 0x400000) >> 16, else (u + 0x7fff + ((u >> 16) & 1)) >> 16; "
                        "no subnormal flush",
            "bf16-torch.bin": "torch .to(torch.bfloat16) (round-to-nearest-even) for comparison",
        },
        "specials_f16_bits": bits(f16[: len(specials)], np.uint16),
        "specials_bf16_bits": bits(bf16[: 2 * len(specials)], np.uint16),
        "specials_bf16_torch_bits": [int(x) for x in tb[: len(specials)].view(np.uint16)],
    }, indent=1)
    _quant_nonfinite(d)
    log("quant: %d rows; files %s" % (arr.shape[0], sorted(p.name for p in d.iterdir())))


# --------------------------------------------------------------------------------------
# Stage: gguf
# --------------------------------------------------------------------------------------

def _write_sample_gguf(path: Path, alignment=None):
    import gguf
    from gguf import GGMLQuantizationType as Q
    w = gguf.GGUFWriter(str(path), arch="bloomkit-test")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.1)
    w.add_uint64("test.u64", 2 ** 63 + 5)
    w.add_int64("test.i64", -(2 ** 62))
    w.add_float64("test.f64", math.pi)
    w.add_bool("test.bool_true", True)
    w.add_bool("test.bool_false", False)
    w.add_string("test.string", "héllo wörld ✓ 东京")
    w.add_key_value("test.empty_string", "", gguf.GGUFValueType.STRING)  # add_string skips empty values
    w.add_array("test.array_i32", [1, -2, 3, 2 ** 31 - 1])
    w.add_array("test.array_f32", [0.5, -1.25, 3.0])
    w.add_array("test.array_str", ["a", "", "Ġhello", "ü✓"])
    w.add_array("test.array_bool", [True, False, True])
    w.add_key_value("test.array_u8", [1, 2, 255], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.UINT8)
    w.add_key_value("test.array_i64", [-1, 2 ** 40], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.INT64)
    w.add_key_value("test.array_f64", [1.5, -2.25], gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType.FLOAT64)
    rng = np.random.default_rng(SEED + 300)
    t_f32 = rng.standard_normal((3, 5)).astype(np.float32)
    t_f16 = rng.standard_normal((2, 4, 8)).astype(np.float16)
    t_q8 = rng.standard_normal((4, 64)).astype(np.float32)
    t_vec = np.arange(7, dtype=np.float32)
    w.add_tensor("tensor.f32", t_f32)
    w.add_tensor("tensor.f16", t_f16)
    q = gguf.quants.quantize(t_q8, Q.Q8_0)
    w.add_tensor("tensor.q8_0", q, raw_shape=q.shape, raw_dtype=Q.Q8_0)
    w.add_tensor("tensor.vec7", t_vec)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return {"tensor.f32": t_f32, "tensor.f16": t_f16, "tensor.q8_0": t_q8, "tensor.vec7": t_vec}


def _py(v):
    if isinstance(v, dict):
        return {k: _py(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_py(x) for x in v]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, (bytes, bytearray)):
        return v.decode()
    return v


def _describe_gguf(path: Path, sources):
    import gguf
    r = gguf.GGUFReader(str(path))
    kvs = []
    for name, f in r.fields.items():
        if name.startswith("GGUF."):
            continue
        vt = f.types[0]
        entry = {"key": name, "type": vt.name, "type_id": int(vt)}
        if vt == gguf.GGUFValueType.ARRAY:
            et = f.types[1] if len(f.types) > 1 else None
            entry["elem_type"], entry["elem_type_id"] = et.name, int(et)
            vals = f.contents()
        else:
            vals = f.contents()
        entry["value"] = _py(vals)
        if vt == gguf.GGUFValueType.FLOAT32:
            entry["f32_bits"] = int(np.array([vals], np.float32).view(np.uint32)[0])
        kvs.append(entry)
    tensors = []
    for t in r.tensors:
        tensors.append({"name": t.name, "type": t.tensor_type.name, "type_id": int(t.tensor_type),
                        "ne": [int(x) for x in t.shape], "n_elements": int(t.n_elements), "nbytes": int(t.n_bytes),
                        "offset": int(t.data_offset - r.data_offset), "data_offset": int(t.data_offset)})
        src = sources[t.name]
        if t.tensor_type == gguf.GGMLQuantizationType.Q8_0:
            assert np.array_equal(np.asarray(t.data).reshape(-1),
                                  gguf.quants.quantize(src, t.tensor_type).reshape(-1))
            tensors[-1]["values_f32_source"] = "seeded gaussian, quantized with gguf.quants.quantize"
        else:
            assert np.array_equal(np.asarray(t.data).reshape(-1), src.reshape(-1))
            tensors[-1]["values"] = [float(x) for x in src.reshape(-1)]
    return {"file": path.name, "size": path.stat().st_size, "version": 3, "alignment": r.alignment,
            "data_offset": int(r.data_offset), "tensor_count": len(r.tensors), "kv_count": len(kvs),
            "kv": kvs, "tensors": tensors}


def stage_gguf():
    import gguf
    d = OUT / "expected" / "gguf"
    d.mkdir(parents=True, exist_ok=True)   # llama-cpp-*.gguf (stage llamacpp) live here too
    out = {"writer": "gguf-py %s GGUFWriter" % importlib.metadata.version("gguf"),
           "note": "ne lists GGUF dims (ne[0] first = numpy shape reversed); offset is relative to the data "
                   "section, data_offset is absolute. kv excludes the GGUF.* pseudo-fields of GGUFReader.",
           "files": []}
    for fname, al in (("sample.gguf", None), ("sample-align64.gguf", 64)):
        src = _write_sample_gguf(d / fname, al)
        out["files"].append(_describe_gguf(d / fname, src))
    assert out["files"][0]["alignment"] == 32 and out["files"][1]["alignment"] == 64
    write_json(d / "sample.json", _py(out), indent=1)
    log("gguf: %s" % [(f["file"], f["size"]) for f in out["files"]])


# --------------------------------------------------------------------------------------
# Stage: llamacpp (a GGUF written by llama.cpp's own converter)
# --------------------------------------------------------------------------------------

def stage_llamacpp(args):
    """expected/gguf/llama-cpp-tiny-a-q8_0.gguf: convert_hf_to_gguf.py --outtype q8_0 of models/tiny-a/bin-f32.

    Our config.json has no "architectures" (like some Megatron-era files), which the converter needs, so it runs on
    a temporary copy named tiny-a (the name becomes general.name "Tiny A") with architectures [BloomForCausalLM]."""
    import tempfile
    root = Path(args.llama_cpp)
    script = root / "convert_hf_to_gguf.py"
    if not script.exists():
        sys.exit("llamacpp: %s not found (use --llama-cpp DIR or BLOOMKIT_LLAMA_CPP)" % script)
    dst = OUT / "expected" / "gguf" / "llama-cpp-tiny-a-q8_0.gguf"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "tiny-a"
        shutil.copytree(OUT / "models" / "tiny-a" / "bin-f32", src)
        cfg = read_json(src / "config.json")
        cfg["architectures"] = ["BloomForCausalLM"]
        write_json(src / "config.json", cfg, indent=2)
        cmd = [sys.executable, str(script), str(src), "--outtype", "q8_0", "--outfile", str(dst)]
        log("llamacpp:", " ".join(cmd))
        subprocess.run(cmd, check=True, capture_output=True)
    import gguf
    r = gguf.GGUFReader(str(dst))
    assert r.fields["general.architecture"].contents() == "bloom"
    assert r.fields["tokenizer.ggml.pre"].contents() == "bloom"
    log("llamacpp: %s %d bytes, %d tensors" % (dst.name, dst.stat().st_size, len(r.tensors)))


# --------------------------------------------------------------------------------------
# Stage: hostile (hand-written bytes; nothing here is ever unpickled by this script)
# --------------------------------------------------------------------------------------

def _p_str(s):      # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def _p_global(mod, name):
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


PROTO2 = b"\x80\x02"
STOP = b"."
REDUCE, TUPLE1, MARK, EMPTY_DICT, SETITEM = b"R", b"\x85", b"(", b"}", b"s"


def _torch_zip(path: Path, pkl: bytes, records=None):
    """A torch-style zip container (torch's own writer: archive folder, 64-byte aligned data) holding pkl."""
    import torch
    w = torch._C.PyTorchFileWriter(str(path))
    w.write_record("data.pkl", pkl, len(pkl))
    w.write_record("byteorder", b"little", 6)
    for name, data in (records or {}).items():
        w.write_record(name, data, len(data))
    w.write_record("version", b"3\n", 2)
    w.write_end_of_file()
    del w


def _canary(name):
    return "/tmp/bloomkit-canary-" + name


HOSTILE_PICKLES = {}


def _hostile_pickles():
    cmd = lambda n: "touch " + _canary(n)  # noqa: E731
    # {"weight": <payload>} so the payload sits where a tensor would
    wrap = lambda payload: PROTO2 + EMPTY_DICT + _p_str("weight") + payload + SETITEM + STOP  # noqa: E731
    out = {}
    out["os_system.bin"] = (wrap(_p_global("posix", "system") + _p_str(cmd("os_system")) + TUPLE1 + REDUCE),
                            "GLOBAL posix.system + REDUCE (os.system('touch %s'))" % _canary("os_system"))
    out["builtins_eval.bin"] = (
        wrap(_p_global("builtins", "eval") +
             _p_str("open('%s','w').close()" % _canary("builtins_eval")) + TUPLE1 + REDUCE),
        "GLOBAL builtins.eval + REDUCE")
    out["subprocess_popen.bin"] = (
        wrap(_p_global("subprocess", "Popen") + b"]" + MARK + _p_str("touch") + _p_str(_canary("subprocess_popen")) +
             b"e" + TUPLE1 + REDUCE),
        "GLOBAL subprocess.Popen + REDUCE (['touch', canary])")
    out["global_not_allowed.bin"] = (
        wrap(_p_global("numpy.core.multiarray", "_reconstruct") + _p_global("numpy", "ndarray") +
             b"K\x00" + TUPLE1 + b"C\x01b" + b"\x87" + REDUCE),
        "GLOBAL numpy.core.multiarray._reconstruct (harmless but not on the allow-list) + REDUCE")
    out["inst.bin"] = (wrap(MARK + _p_str(cmd("inst")) + b"ios\nsystem\n"),
                       "INST opcode ('i', protocol 0) instantiating os.system with a command")
    out["obj.bin"] = (wrap(MARK + _p_global("os", "system") + _p_str(cmd("obj")) + b"o"),
                      "OBJ opcode ('o') calling os.system")
    out["newobj.bin"] = (
        wrap(_p_global("subprocess", "Popen") + b"]" + MARK + _p_str("touch") + _p_str(_canary("newobj")) + b"e" +
             TUPLE1 + b"\x81"),
        "NEWOBJ (0x81) on subprocess.Popen, a class not on the allow-list")
    # a storage claiming 2^60 float elements (data/0 holds 16 bytes); offsets/shape consistent with the claim
    pid = (MARK + _p_str("storage") + _p_global("torch", "FloatStorage") + _p_str("0") + _p_str("cpu") +
           b"\x8a\x08" + struct.pack("<q", 2 ** 60) + b"t" + b"Q")
    tensor = (_p_global("torch._utils", "_rebuild_tensor_v2") + MARK + pid + b"K\x00" +
              MARK + b"\x8a\x05" + struct.pack("<q", 2 ** 30)[:5] + b"\x8a\x05" + struct.pack("<q", 2 ** 30)[:5] + b"t" +
              MARK + b"\x8a\x05" + struct.pack("<q", 2 ** 30)[:5] + b"K\x01" + b"t" +
              b"\x89" + _p_global("collections", "OrderedDict") + b")" + REDUCE + b"t" + REDUCE)
    out["storage_2p60.bin"] = (
        PROTO2 + _p_global("collections", "OrderedDict") + b")" + REDUCE + _p_str("weight") + tensor + SETITEM + STOP,
        "valid state-dict pickle whose FloatStorage persistent id claims 2^60 elements (shape [2^30, 2^30]) "
        "while data/0 holds 16 bytes: must fail on the size check, never allocate")
    depth = 100000
    out["deep_nesting.bin"] = (PROTO2 + b"]" * depth + b"a" * (depth - 1) + STOP,
                               "100000 nested lists (EMPTY_LIST x 100000, APPEND x 99999): must not overflow "
                               "the stack (lists are also not a state dict)")
    return out


ST_HOSTILE = {}


def _st(header, data: bytes, n_override=None, raw_header=None):
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    n = len(h) if n_override is None else n_override
    return struct.pack("<Q", n) + h + data


def _hostile_safetensors():
    f = lambda n: b"\x00\x00\x80\x3f" * n  # noqa: E731  (float32 1.0)
    meta = {"__metadata__": {"format": "pt"}}
    out = {}
    good = dict(meta, a={"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
                b={"dtype": "F32", "shape": [4], "data_offsets": [16, 32]})
    full = _st(good, f(8))
    out["truncated.safetensors"] = (full[:-10], "valid header, file cut 10 bytes into the data of the last tensor")
    out["overlap.safetensors"] = (
        _st(dict(meta, a={"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                 b={"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}), f(6)),
        "tensor b's data_offsets [8,24] overlap a's [0,16]")
    out["gap.safetensors"] = (
        _st(dict(meta, a={"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                 b={"dtype": "F32", "shape": [2], "data_offsets": [16, 24]}), f(6)),
        "8 unused bytes between a [0,8] and b [16,24] (the data buffer must be covered exactly)")
    out["header_too_large.safetensors"] = (
        struct.pack("<Q", 100_000_008) + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}' + b" " * 10,
        "header length N = 100,000,008 > 100,000,000 (the file itself is tiny)")
    out["header_past_eof.safetensors"] = (
        struct.pack("<Q", 4096) + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}   ' + f(1),
        "header length N = 4096 but the file is shorter than 8+N")
    out["bad_json.safetensors"] = (_st(None, f(1), raw_header=b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}'),
                                   "header is not valid JSON (missing closing brace)")
    out["bad_dtype.safetensors"] = (_st({"a": {"dtype": "F31", "shape": [1], "data_offsets": [0, 4]}}, f(1)),
                                    "unknown dtype string F31")
    out["shape_mismatch.safetensors"] = (
        _st(dict(meta, a={"dtype": "F32", "shape": [3, 3], "data_offsets": [0, 16]}), f(4)),
        "shape [3,3] F32 needs 36 bytes but data_offsets span 16")
    out["offset_overflow.safetensors"] = (
        _st({"a": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 18446744073709551612]}}, f(1)),
        "shape 2^62 x F32 overflows u64 byte count; end offset 2^64-4 far beyond the file")
    raw = (b'{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
           b'"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}')
    out["duplicate_key.safetensors"] = (_st(None, f(2), raw_header=raw),
                                        "tensor name 'a' appears twice in the header")
    out["metadata_not_string.safetensors"] = (
        _st({"__metadata__": {"format": "pt", "step": 5}, "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}},
            f(1)),
        "__metadata__ value 5 is a number; the format allows only string->string")
    return out


def stage_hostile():
    import torch
    d = OUT / "hostile"
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    manifest = {}
    for name, (pkl, why) in _hostile_pickles().items():
        recs = {"data/0": b"\x00" * 16} if name == "storage_2p60.bin" else None
        _torch_zip(d / name, pkl, recs)
        manifest[name] = why
    # legacy (pre-1.6, non-zip) torch.save of a real small state dict
    w = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    torch.save({"weight": w}, str(d / "legacy.bin"), _use_new_zipfile_serialization=False)
    # the legacy format names storages by their C pointer (str(storage._cdata)): replace that key by a
    # same-length run of '7' so the file is reproducible (the key is a BINUNICODE string in two pickles)
    key = str(w.untyped_storage()._cdata).encode()
    raw = (d / "legacy.bin").read_bytes()
    assert raw.count(key) == 2, raw.count(key)
    (d / "legacy.bin").write_bytes(raw.replace(key, b"7" * len(key)))
    assert torch.equal(torch.load(str(d / "legacy.bin"), weights_only=True)["weight"], w)
    manifest["legacy.bin"] = ("legacy (pre-1.6, non-zip) torch.save stream of {'weight': arange(6).reshape(2,3) f32}: "
                              "not a zip (no 'PK\\x03\\x04'), refuse as unsupported format")
    for name, (data, why) in _hostile_safetensors().items():
        (d / name).write_bytes(data)
        manifest[name] = why
    for name in manifest:
        assert (d / name).exists()
    # the zip containers must be readable zips with data.pkl under one folder
    for name in _hostile_pickles():
        with zipfile.ZipFile(d / name) as z:
            assert z.namelist()[0].endswith("/data.pkl"), z.namelist()
    write_json(d / "manifest.json", {
        "canary_files": "payloads would create /tmp/bloomkit-canary-<name>; a test asserts none exists after loading",
        "files": manifest}, indent=1)
    log("hostile: %d files" % len(manifest))


# --------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------

STAGE_ORDER = ["data", "models", "adapters", "a2023", "merged", "tokens", "tokvariants", "generate", "ppl", "inspect",
               "quant", "gguf", "llamacpp", "hostile"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stages", default=",".join(STAGE_ORDER))
    ap.add_argument("--py2023", default=os.environ.get("BLOOMKIT_PEFT02_PYTHON"),
                    help="python of the PEFT 0.2.0 venv (or env BLOOMKIT_PEFT02_PYTHON)")
    ap.add_argument("--llama-cpp", default=os.environ.get("BLOOMKIT_LLAMA_CPP",
                                                          str(HERE.parent.parent / ".tools" / "llama.cpp")),
                    help="llama.cpp source folder with convert_hf_to_gguf.py (stage llamacpp; env BLOOMKIT_LLAMA_CPP)")
    ap.add_argument("--update-requirements", action="store_true")
    args = ap.parse_args()
    check_requirements(args.update_requirements)
    stages = [s for s in args.stages.split(",") if s]
    for s in stages:
        if s not in STAGE_ORDER:
            sys.exit("unknown stage %s" % s)
    for s in STAGE_ORDER:
        if s in stages:
            t0 = time.time()
            log("== stage", s)
            fn = globals()["stage_" + s]
            fn(args) if s in ("a2023", "llamacpp") else fn()
            log("== stage %s done in %.0fs" % (s, time.time() - t0))


if __name__ == "__main__":
    main()
