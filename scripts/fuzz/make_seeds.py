#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora under Tests/Fixtures/fuzz/<target>/ (python3 only).

Seeds (`seed-*`) are small valid inputs (from the committed fixtures and recipes, or built here) that
libFuzzer mutates; the tests replay them, and inputs they must refuse (`bad-*`), and the
regression inputs beside them (`crash-*`, `finding-*`: inputs the fuzzers found that once
crashed or got an unclear message; copied in by hand, not by this script), on every run.
Targets whose first byte picks a variant (suite, data, tokenizer) get that byte prefixed.
Rerunning rewrites identical bytes.
"""
import os, shutil, struct, random

root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = os.path.join(root, "Tests", "Fixtures", "fuzz")
fx = os.path.join(root, "Tests", "Fixtures")


def put(target, name, data, kind="seed"):
    """kind: "seed" (a valid input the target accepts) or "bad" (one it must refuse)."""
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, kind + "-" + name), "wb") as f:
        f.write(data)


def read(*parts):
    with open(os.path.join(root, *parts), "rb") as f:
        return f.read()


# safetensors: a real decoder's weights and a two-tensor file of each dtype family.
put("safetensors", "decoder.safetensors", read("Tests/Fixtures/decoder_llama_tied/model.safetensors"))
def safetensors(tensors):
    header, blob = {}, b""
    import json
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + blob
put("safetensors", "dtypes.safetensors", safetensors([
    ("a", "F32", [2, 2], struct.pack("<4f", 1, -2, 3.5, 0)),
    ("b", "F16", [3], struct.pack("<3e", 1, 0.5, -4)),
    ("c", "BF16", [1, 2], bytes([0x80, 0x3f, 0x00, 0xc0])),
]))

# config: decoder, Qwen2, LLaVA configs and the side files.
for name, path in [("llama.json", "Tests/Fixtures/decoder_llama_tied/config.json"),
                   ("qwen2.json", "Tests/Fixtures/hf/qwen2-tiny/config.json"),
                   ("llava.json", "Tests/Fixtures/hf-vision/llava-tiny/config.json"),
                   ("preprocessor.json", "Tests/Fixtures/hf-vision/llava-tiny/preprocessor_config.json"),
                   ("generation.json", "Tests/Fixtures/hf-vision/llava-tiny/generation_config.json"),
                   ("tokenizer_config.json", "Tests/Fixtures/hf/llama-tiny/tokenizer_config.json")]:
    put("config", name, read(path))

# recipe: the committed recipes, their files moved to the ones the recipe target creates
# (FuzzTarget.recipeFiles), so that a seed passes every check; the stories260K recipes, which
# need --set model.base, are left out.
import re
files = "/tmp/mllm-cl-fuzz-files"
def relocate(match):
    key, value = match.group(1), match.group(2)
    if key == "base": return f"{key}: {files}/checkpoint"
    if key == "tokenizer": return f"{key}: {files}/tokenizer.model"
    if value.endswith(".jsonl"): return f"{key}: {files}/corpus.jsonl"
    if value.endswith(".json"): return f"{key}: {files}/conversations.json"
    return f"{key}: {files}/suite"
for name in sorted(os.listdir(os.path.join(root, "recipes"))):
    if name.startswith("stories260k"): continue
    text = read("recipes", name).decode()
    text = re.sub(r"\b(path|base|projector|tokenizer): ([^\s,}#]+)", relocate, text)
    put("recipe", name, text.encode())

# suite: CSV (0), JSONL (1), TSV (2).
put("suite", "mmlu.csv", b"\x00" + read("Tests/Fixtures/mmlu_tiny/test/toy_facts_test.csv"))
put("suite", "items.jsonl", b"\x01" + b'{"question": "Q1", "choices": ["a", "b"], "answer": 1, "subject": "x"}\n'
    b'{"question": "Q2", "choices": ["a", "b", "c", "d", "e"], "answer": "E"}\n')
put("suite", "mmbench.tsv", b"\x02" + b"index\tquestion\tA\tB\tC\tD\tanswer\tcategory\tlanguage\n"
    b"0\tWhat is 2+2?\t3\t4\t5\t6\tB\tmath\ten\n1\tColour of sky?\tblue\tred\t\t\tA\tworld\ten\n")

# data: LLaVA JSON (0), JSONL (1).
put("data", "llava.json", b"\x00" + b'[{"id": "a", "image": "x.png", "conversations": [{"from": "human", "value": "<image>\\nHi"},'
    b' {"from": "gpt", "value": "Hello"}]}, {"id": "b", "conversations": [{"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "4"}]}]')
put("data", "text.jsonl", b"\x01" + b'{"text": "Once upon a time."}\n{"text": "The end.", "id": 2}\n')

# image: the committed PNG and JPEG fixtures (valid ones and the broken ones).
for name in ["grey.png", "palette_alpha.png", "progressive.jpg", "truncated.jpg", "truncated.png"]:
    put("image", name, read("Tests/Fixtures/images", name), "bad" if name.startswith("truncated") else "seed")
put("image", "tall.png", read("Tests/Fixtures/hf-vision/images/tall_20x41.png"))

# tokenizer: SentencePiece (0), tokenizer.json (1).
put("tokenizer", "llama.model", b"\x00" + read("Tests/Fixtures/hf/llama-tiny/tokenizer.model"))
put("tokenizer", "toyworld.model", b"\x00" + read("tokenizers/toyworld.model"))
put("tokenizer", "smollm.json", b"\x01" + read("Tests/Fixtures/hf/smollm-tokenizer/tokenizer.json"))
put("tokenizer", "byte-fallback.json", b"\x01" + read("Tests/Fixtures/hf/llama-tiny/tokenizer.json"), "bad")

# llama2c: a tiny checkpoint, shared and separate classifier.
rng = random.Random(0)
def llama2c(dim, hidden, layers, heads, kv, vocab, seq, shared):
    D, KC = dim // heads, kv * (dim // heads)
    n = vocab * dim + layers * (dim + dim * dim + 2 * KC * dim + dim * dim + dim + 3 * hidden * dim) + dim + seq * D
    n += 0 if shared else vocab * dim
    head = struct.pack("<7i", dim, hidden, layers, heads, kv, vocab if shared else -vocab, seq)
    return head + struct.pack("<%df" % n, *[round(rng.uniform(-1, 1), 3) for _ in range(n)])
put("llama2c", "shared.bin", llama2c(8, 16, 1, 2, 1, 12, 4, True))
put("llama2c", "separate.bin", llama2c(4, 8, 2, 2, 2, 6, 2, False))
