# PyTorch (CPU) training throughput on the model a user would pick instead of our trainer: transformers'
# LlamaForCausalLM / GPT2LMHeadModel of the given config, random tokens, AdamW, forward + backward + step.
#
#   python torch-train-bench.py <llama|gpt2> <threads> <hidden> <layers> <heads> <kvHeads> <intermediate> <vocab> <batch> <seq> <steps>
import sys
import time

import torch
import transformers

arch, threads, hidden, layers, heads, kv, inter, vocab, batch, seq, steps = sys.argv[1], *map(int, sys.argv[2:])
torch.set_num_threads(threads)
torch.manual_seed(1)
if arch == "llama":
    config = transformers.LlamaConfig(hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers, num_attention_heads=heads,
                                      num_key_value_heads=kv, vocab_size=vocab, max_position_embeddings=max(seq, 512), tie_word_embeddings=True)
else:
    config = transformers.GPT2Config(n_embd=hidden, n_inner=inter, n_layer=layers, n_head=heads, vocab_size=vocab, n_positions=max(seq, 1024),
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
model.train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
tokens = torch.randint(0, vocab, (batch, seq))
labels = torch.randint(0, vocab, (batch, seq))


def step():
    opt.zero_grad(set_to_none=True)
    logits = model(tokens).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), labels.reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss


for _ in range(3):
    step()
t0 = time.perf_counter()
for _ in range(steps):
    loss = step()
secs = time.perf_counter() - t0
params = sum(p.numel() for p in model.parameters())
print(f"torch {torch.__version__} {arch}  params {params}  batch {batch} x {seq}  threads {threads}  {batch * seq * steps / secs:.1f} tokens/s  "
      f"loss {float(loss):.3f}  (attention: {model.config._attn_implementation})")
