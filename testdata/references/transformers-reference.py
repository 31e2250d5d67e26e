# Hugging Face transformers (PyTorch, CPU) as the independent reference for the engine's numerics.
#
#   python transformers-reference.py golden <out-dir>
#       Builds a random-initialized model of every architecture the engine serves (Llama with Llama-3
#       RoPE scaling, Mistral with a sliding window shorter than the prompt, Qwen2, GPT-2) in float32,
#       float16 and bfloat16, saves each with save_pretrained into <out-dir>/<arch>-<dtype>/, and writes
#       <out-dir>/<arch>-<dtype>/reference.json: {"prompt", "tokens" (greedy), "logits" (one row per step)}.
#   python transformers-reference.py logits <request.json>
#       The request lists {"dir", "prompt", "steps"}; each model directory (written by anyone, e.g. the
#       engine's own writer) is loaded with from_pretrained and its greedy logits are printed as JSON.
#   python transformers-reference.py gradients <request.json>
#       The request lists {"dir", "tokens", "targets", "out"}: a batch of rows (targets -1: no loss there);
#       the model is loaded in float32, the loss is the mean cross-entropy over the rows' targets, and
#       torch autograd's gradient of every parameter is saved to "out" (safetensors, the model's names);
#       prints [{"dir", "loss"}].
#   python transformers-reference.py read-safetensors <file>     prints {name: {dtype, shape, values}}
#   python transformers-reference.py write-safetensors <file>    writes F32/F16/BF16 tensors, prints them
#
# Seeds are fixed, so the models and goldens are the same on every run. The reduced-precision models
# follow a measured trap: a model cast to bf16 and back keeps RoPE's inv_freq rounded, so each model is
# built in float32, its parameters are rounded to the target dtype in place, the reference is computed
# with that float32 model, and the saved copy is in the target dtype (the rounding is then exact).
import json
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
PROMPT_LEN = 11
STEPS = 16
VOCAB = 300


def configs():
    common = dict(vocab_size=VOCAB, bos_token_id=298, eos_token_id=299, attn_implementation="eager")
    return {
        "llama": transformers.LlamaConfig(
            hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=2,
            head_dim=8, rms_norm_eps=1e-5, max_position_embeddings=256, tie_word_embeddings=True,
            rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
            **common),
        # the window (6) is shorter than the prompt (11) plus the generated tokens
        "mistral": transformers.MistralConfig(
            hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            head_dim=16, rms_norm_eps=1e-5, max_position_embeddings=256, tie_word_embeddings=False, sliding_window=6,
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, **common),
        "qwen2": transformers.Qwen2Config(
            hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            rms_norm_eps=1e-6, max_position_embeddings=256, tie_word_embeddings=True,
            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, **common),
        "gpt2": transformers.GPT2Config(
            n_embd=64, n_inner=256, n_layer=2, n_head=4, n_positions=128, layer_norm_epsilon=1e-5,
            activation_function="gelu_new", **common),
    }


def build(arch, config, seed):
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.eval()
    with torch.no_grad():
        # from_config's init (std 0.02, norms 1, biases 0) gives near-uniform logits; larger weights and
        # non-trivial norms and biases make every parameter matter to the output
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.copy_((1.0 if "norm" in name or ".ln_" in name else 0.0) + 0.2 * torch.randn_like(p))
            else:
                p.copy_(torch.randn_like(p) * (0.5 if "embed" in name or "wte" in name or "wpe" in name else 0.15))
    return model


def greedy(model, prompt, steps):
    ids = list(prompt)
    tokens, rows = [], []
    with torch.no_grad():
        for _ in range(steps):
            logits = model(torch.tensor([ids])).logits[0, -1].float()
            rows.append([float(v) for v in logits])
            nxt = int(torch.argmax(logits))
            tokens.append(nxt)
            ids.append(nxt)
    return tokens, rows


def golden(out):
    import os
    for ai, (arch, config) in enumerate(configs().items()):
        for di, (dname, dtype) in enumerate(DTYPES.items()):
            seed = 1000 + 10 * ai + di
            model = build(arch, config, seed)
            with torch.no_grad():
                for p in model.parameters():
                    p.copy_(p.to(dtype).float())
            gen = torch.Generator().manual_seed(seed)
            prompt = [int(t) for t in torch.randint(0, VOCAB - 2, (PROMPT_LEN,), generator=gen)]
            tokens, rows = greedy(model, prompt, STEPS)
            d = os.path.join(out, f"{arch}-{dname}")
            model.to(dtype).save_pretrained(d)
            with open(os.path.join(d, "reference.json"), "w") as f:
                json.dump({"arch": arch, "dtype": dname, "seed": seed, "prompt": prompt, "tokens": tokens, "logits": rows,
                           "transformers": transformers.__version__, "torch": torch.__version__}, f)
            print(f"{arch} {dname}: {d}", file=sys.stderr)


def logits(request):
    with open(request) as f:
        req = json.load(f)
    out = []
    for r in req:
        model = transformers.AutoModelForCausalLM.from_pretrained(r["dir"], dtype=torch.float32, attn_implementation="eager")
        model.eval()
        tokens, rows = greedy(model, r["prompt"], r["steps"])
        out.append({"dir": r["dir"], "tokens": tokens, "logits": rows})
    print(json.dumps(out))


def gradients(request):
    with open(request) as f:
        req = json.load(f)
    out = []
    for r in req:
        model = transformers.AutoModelForCausalLM.from_pretrained(r["dir"], dtype=torch.float32, attn_implementation="eager")
        model.eval()  # no dropout; autograd works the same
        logits = model(torch.tensor(r["tokens"])).logits
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.tensor(r["targets"]).reshape(-1),
                                                 ignore_index=-1)
        loss.backward()
        # GPT-2's parameters are named transformer.*; its checkpoints (and ours) drop that prefix
        save_file({name.removeprefix("transformer."): p.grad.contiguous() for name, p in model.named_parameters()}, r["out"])
        out.append({"dir": r["dir"], "loss": float(loss)})
    print(json.dumps(out))


def blocks(model):
    """The decoder layers: Llama's model.layers, GPT-2's transformer.h."""
    return model.model.layers if hasattr(model, "model") else model.transformer.h


def edit_gradient(request):
    """ROME's / MEMIT's objective for a vector delta added at each row's lookup token to one layer's MLP output
    ("mlp") or residual stream ("residual"): mean NLL of the target tokens over the rewriting rows, plus kl_factor x
    KL(unedited || edited) at the KL row's last token. Returns the loss and d loss / d delta (torch autograd)."""
    with open(request) as f:
        req = json.load(f)
    out = []
    for r in req:
        model = transformers.AutoModelForCausalLM.from_pretrained(r["dir"], dtype=torch.float32, attn_implementation="eager")
        model.eval()
        rows, lookup, layer, target = r["rows"], r["lookup"], r["layer"], r["target"]
        width = max(len(x) for x in rows)
        ids = torch.tensor([x + [0] * (width - len(x)) for x in rows])
        delta = torch.tensor(r["delta"], dtype=torch.float32, requires_grad=True)
        block = blocks(model)[layer]
        module = block.mlp if r["site"] == "mlp" else block

        def hook(mod, args, output):
            hidden = output[0] if isinstance(output, tuple) else output
            hidden = hidden.clone()
            for i, at in enumerate(lookup):
                if at >= 0:
                    hidden[i, at, :] = hidden[i, at, :] + delta
            return (hidden,) + tuple(output[1:]) if isinstance(output, tuple) else hidden

        with torch.no_grad():
            init = torch.log_softmax(model(ids).logits[r["kl_row"], len(rows[r["kl_row"]]) - 1], -1)
        handle = module.register_forward_hook(hook)
        logits = model(ids).logits
        handle.remove()
        n = r["rewriting"]
        nll = 0
        for i in range(n):
            first = len(rows[i]) - (len(target) - 1) - 1
            lp = torch.log_softmax(logits[i, first:first + len(target)], -1)
            nll = nll - lp[torch.arange(len(target)), torch.tensor(target)].mean() / n
        cur = torch.log_softmax(logits[r["kl_row"], len(rows[r["kl_row"]]) - 1], -1)
        kl = torch.sum(init.exp() * (init - cur))
        loss = nll + r["kl_factor"] * kl
        loss.backward()
        out.append({"loss": float(loss), "grad": delta.grad.tolist()})
    print(json.dumps(out))


def trace_restore(request):
    """Causal tracing's runs: noise added to the subject's token embeddings, then (optionally) one layer's output
    at one token replaced by the clean run's; returns P(answer) per sample for each restoration."""
    with open(request) as f:
        req = json.load(f)
    out = []
    for r in req:
        model = transformers.AutoModelForCausalLM.from_pretrained(r["dir"], dtype=torch.float32, attn_implementation="eager")
        model.eval()
        ids = torch.tensor([r["ids"]])
        first, last = r["subject"]
        embed = model.get_input_embeddings()
        with torch.no_grad():
            clean = model(ids, output_hidden_states=True)
        results = []
        for restore in r["restores"]:
            probs = []
            for noise in r["noise"]:
                def noise_hook(mod, args, output, noise=noise):
                    output = output.clone()
                    output[0, first:last + 1, :] += torch.tensor(noise)
                    return output
                handles = [embed.register_forward_hook(noise_hook)]
                if restore is not None:
                    layer, pos = restore
                    state = clean.hidden_states[layer + 1][0, pos].clone()

                    def restore_hook(mod, args, output, pos=pos, state=state):
                        hidden = output[0] if isinstance(output, tuple) else output
                        hidden = hidden.clone()
                        hidden[0, pos, :] = state
                        return (hidden,) + tuple(output[1:]) if isinstance(output, tuple) else hidden
                    # the last layer's hidden state in transformers is after the final norm: restore the block output
                    handles.append(blocks(model)[layer].register_forward_hook(restore_hook))
                with torch.no_grad():
                    logits = model(ids).logits[0, -1]
                for h in handles:
                    h.remove()
                probs.append(float(torch.softmax(logits, -1)[r["answer"]]))
            results.append(sum(probs) / len(probs))
        out.append({"p": results})
    print(json.dumps(out))


def describe(tensors):
    return {name: {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
                   "values": [float(v) for v in t.float().flatten()] if t.is_floating_point() else [int(v) for v in t.flatten()]}
            for name, t in tensors.items()}


def write_safetensors(path):
    g = torch.Generator().manual_seed(7)
    tensors = {
        "a.f32": torch.randn(3, 5, generator=g),
        "b.f16": (torch.randn(4, 2, generator=g) * 100).to(torch.float16),
        "c.bf16": (torch.randn(7, generator=g) * 1e-3).to(torch.bfloat16),
        "d.scalar": torch.tensor(3.25),
        "e.empty": torch.zeros(0, 4),
        "f.f16-extremes": torch.tensor([65504.0, -65504.0, 6.1e-5, 6e-8, 0.0, -0.0], dtype=torch.float16),
    }
    save_file(tensors, path, metadata={"format": "pt", "writer": "transformers-reference"})
    print(json.dumps(describe(tensors)))


if __name__ == "__main__":
    mode, arg = sys.argv[1], sys.argv[2]
    if mode == "golden":
        golden(arg)
    elif mode == "logits":
        logits(arg)
    elif mode == "gradients":
        gradients(arg)
    elif mode == "edit-gradient":
        edit_gradient(arg)
    elif mode == "trace-restore":
        trace_restore(arg)
    elif mode == "read-safetensors":
        print(json.dumps(describe(load_file(arg))))
    elif mode == "write-safetensors":
        write_safetensors(arg)
    else:
        sys.exit(f"unknown mode {mode}: golden, logits, gradients, edit-gradient, trace-restore, read-safetensors, write-safetensors")
