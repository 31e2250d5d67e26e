"""Reference models for bin/device-check, made on the device machine with Hugging Face transformers.

For each shape (Llama-3.2-1B, Qwen2-0.5B, GPT-2): a random-initialized model built from its config,
saved as safetensors (what our engine loads), a prompt of random token ids, and the model's logits
for every prompt position computed in float32 eager attention (the reference the CUDA backend is
held to). Then HF transformers' own decode speed on the Llama shape, bf16 eager, as the peer.

usage: python3 hf_reference.py OUT_DIR [--peer]
"""
import json
import os
import sys
import time

import torch
from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, Qwen2Config

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

LLAMA_ROPE = {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
              "original_max_position_embeddings": 8192}

SHAPES = {
    "llama-3.2-1b": (lambda: LlamaConfig(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, head_dim=64, max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
        rope_scaling=LLAMA_ROPE, tie_word_embeddings=True, bos_token_id=128000, eos_token_id=128001), torch.bfloat16),
    "qwen2-0.5b": (lambda: Qwen2Config(
        vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, max_position_embeddings=32768, rms_norm_eps=1e-6, rope_theta=1000000.0,
        tie_word_embeddings=True, bos_token_id=151643, eos_token_id=151643), torch.bfloat16),
    "gpt2": (lambda: GPT2Config(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12), torch.float32),
}
PROMPT_LEN = 24


def build(config, dtype):
    torch.manual_seed(0)
    with torch.device("cuda"):
        try:
            return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="eager")
        except TypeError:
            return AutoModelForCausalLM.from_config(config, torch_dtype=dtype, attn_implementation="eager")


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, (make, dtype) in SHAPES.items():
        t0 = time.time()
        model = build(make(), dtype).eval()
        d = os.path.join(out, name)
        try:
            model.save_pretrained(d, safe_serialization=True)
        except TypeError:  # transformers versions where safetensors is the only format
            model.save_pretrained(d)
        vocab = model.config.vocab_size
        g = torch.Generator().manual_seed(11)
        ids = torch.randint(0, vocab, (1, PROMPT_LEN), generator=g)
        with open(os.path.join(d, "prompt.ids"), "w") as f:
            f.write(",".join(str(int(i)) for i in ids[0]))
        with torch.no_grad():
            logits = model.float()(ids.cuda()).logits[0].float().cpu().contiguous()
        logits.numpy().astype("<f4").tofile(os.path.join(d, "ref_logits.f32"))
        cfg = json.load(open(os.path.join(d, "config.json")))
        rope = {k: cfg[k] for k in ("rope_theta", "rope_scaling", "rope_parameters") if k in cfg}
        print(f"{name}: {sum(p.numel() for p in model.parameters()) / 1e9:.3f} B parameters ({dtype}), saved in "
              f"{time.time() - t0:.1f} s; logits {tuple(logits.shape)}; rope {rope}", flush=True)
        del model
        torch.cuda.empty_cache()
    if "--peer" in sys.argv:
        peer(out)


def peer(out):
    """HF transformers eager bf16 decode on the Llama shape: tokens per second at 1 and 32 streams."""
    model = AutoModelForCausalLM.from_pretrained(os.path.join(out, "llama-3.2-1b"), attn_implementation="eager").to(
        "cuda", torch.bfloat16).eval()
    for streams in (1, 32):
        ids = torch.randint(0, model.config.vocab_size, (streams, 16), device="cuda")
        new = 128
        kw = dict(max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=0)
        with torch.no_grad():
            model.generate(ids, **dict(kw, max_new_tokens=8, min_new_tokens=8))
            torch.cuda.synchronize()
            t0 = time.time()
            model.generate(ids, **kw)
            torch.cuda.synchronize()
            dt = time.time() - t0
        rate = streams * new / dt
        print(f"RESULT\tllama-3.2-1b: HF transformers eager bf16 decode, {streams} stream(s)\t{rate:.4g}\ttok/s\tPEER\t"
              f"generate({new} new tokens) incl. its 16-token prefill", flush=True)


if __name__ == "__main__":
    main()
