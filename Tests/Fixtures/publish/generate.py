"""Oracle for the general.* keys bloomkit writes (run by scripts/make-publish-metadata-fixtures.sh).

For each case (a model folder, an optional --metadata file, an optional --model-name), the keys llama.cpp's converter
writes: gguf-py's Metadata.load (what convert_hf_to_gguf.py's prepare_metadata calls) with the parameter count of the
folder's tensors (safetensors headers; lm_head left out when tied, as the BLOOM converter writes no output.weight),
then prepare_metadata's two fallbacks (name = folder name; size_label = gguf.size_label), written by gguf-py's
set_gguf_meta_model into a GGUF and read back, with each key's GGUF type. Metadata.load also reads the folder's
generation_config.json into the general.sampling.* keys, and the override file's general.sampling.* keys over them.
With CONVERTER=path/to/convert_hf_to_gguf.py (and torch importable), each case is also converted by
convert_hf_to_gguf.py itself (--outtype f16, --metadata, --model-name), and its general.* keys and types must equal
the ones above (the run stops otherwise); the cases so checked are listed in generator.converter_checked. Without
torch only the metadata code the converter runs is run. Needs gguf and PyYAML (and torch for the converter).

usage: generate.py OUT.json CASE=FOLDER=OVERRIDE_OR_-=NAME_OR_-...
"""
import importlib.util
import json
import os
import struct
import sys
import tempfile
from pathlib import Path

import gguf


def parameter_count(folder: Path) -> int:
    total = 0
    for shard in sorted(folder.glob("*.safetensors")):
        with open(shard, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(n))
        for name, info in header.items():
            if name == "__metadata__" or name.endswith("lm_head.weight"):
                continue
            count = 1
            for d in info["shape"]:
                count *= d
            total += count
    return total


def read_general(path: Path) -> tuple[dict, dict]:
    """general.* keys of a GGUF (architecture, alignment and what convert sets beside the metadata left out)."""
    reader = gguf.GGUFReader(path)
    out, types = {}, {}
    for key, field in reader.fields.items():
        if not key.startswith("general.") or key in ("general.architecture", "general.alignment", "general.type",
                                                     "general.file_type", "general.quantization_version"):
            continue
        out[key] = field.contents()
        types[key] = field.types[0].name
    return out, types


def converter_keys(converter, folder: Path, override: Path | None, name: str | None) -> tuple[dict, dict]:
    """The general.* keys convert_hf_to_gguf.py itself writes for the folder."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "converted.gguf"
        argv = ["convert_hf_to_gguf.py", str(folder), "--outfile", str(out), "--outtype", "f16"]
        argv += ["--metadata", str(override)] if override else []
        argv += ["--model-name", name] if name else []
        sys.argv = argv
        converter.main()
        return read_general(out)


def general_keys(folder: Path, override: Path | None, name: str | None) -> dict:
    total = parameter_count(folder)
    md = gguf.Metadata.load(override, folder, name, total)
    if md.name is None:
        md.name = folder.name
    if md.size_label is None and total > 0:
        md.size_label = gguf.size_label(total, total, 0, 0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.gguf"
        writer = gguf.GGUFWriter(path, "bloom")
        md.set_gguf_meta_model(writer)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.close()
        out, types = read_general(path)
    return {"parameters": total, "keys": out, "types": types}


# Model ids for get_model_id_components / id_to_title, each with a parameter count (0: unknown).
IDS = [
    ("bigscience/bloom-7b1", 7_069_016_064), ("bigscience/bloom-560m", 559_214_592), ("bigscience/bloom-560m", 0),
    ("mrm8488/Alpacoom", 0), ("bloom-1b7-instruct-v0.2", 1_722_408_960),
    ("TheBloke/Mistral-7B-Instruct-v0.2-GGUF", 7_241_732_096), ("Qwen2.5-72B-Instruct-Q4_K_M", 72_000_000_000),
    ("org/model-8x7B-32k-chat", 46_700_000_000), ("./local-model-3b", 3_000_000_000), ("just a sentence", 0),
    ("gpt2-xl-small", 1_500_000_000), ("bloomz-3b-lora-fp16", 3_000_000_000), ("Llama-3.1-8B", 8_000_000_000),
    ("x/v1.5-base-7b-it", 7_000_000_000), ("bloom-176b-iter-v3", 0), ("a--b--c", 0), ("/leading-slash-1b", 1),
]


def main():
    out, specs = sys.argv[1], sys.argv[2:]
    result = {"generator": {"gguf-py": "the llama.cpp checkout's (PYTHONPATH), as convert_hf_to_gguf.py uses it",
                            "converter_checked": []},
              "cases": {}}
    converter = None
    if os.environ.get("CONVERTER"):
        sys.path.insert(0, str(Path(os.environ["CONVERTER"]).parent))  # its conversion/ package
        spec = importlib.util.spec_from_file_location("convert_hf_to_gguf", os.environ["CONVERTER"])
        converter = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(converter)
    for spec in specs:
        case, folder, override, name = spec.split("=", 3)
        override_path = None if override == "-" else Path(override)
        model_name = None if name == "-" else name
        result["cases"][case] = general_keys(Path(folder), override_path, model_name)
        if converter is not None:
            keys, types = converter_keys(converter, Path(folder), override_path, model_name)
            want = result["cases"][case]
            if (keys, types) != (want["keys"], want["types"]):
                sys.exit(f"{case}: convert_hf_to_gguf.py wrote {keys} {types}, Metadata.load gave {want['keys']} "
                         f"{want['types']}")
            result["generator"]["converter_checked"].append(case)
    result["ids"] = []
    for model_id, total in IDS:
        full, org, basename, finetune, version, size_label = gguf.Metadata.get_model_id_components(model_id, total)
        result["ids"].append({"id": model_id, "parameters": total, "full_name": full, "organization": org,
                              "basename": basename, "finetune": finetune, "version": version,
                              "size_label": size_label, "title": gguf.Metadata.id_to_title(full) if full else None})
    result["size_labels"] = {str(n): gguf.size_label(n, n, 0, 0)
                             for n in [1, 999, 1000, 1499, 12_345, 559_214_592, 999_999_999, 1_000_000_001,
                                       7_069_016_064, 176_247_271_424, 2_500_000_000_000, 345_678]}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
