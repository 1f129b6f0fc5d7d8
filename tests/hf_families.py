"""Tiny random Hugging Face checkpoints, one per supported family (2 layers, d_model 64), built
offline from transformers configs and written with save_pretrained, plus tokens that fit them."""

from __future__ import annotations

from pathlib import Path

import torch

VOCAB, CTX = 40, 32
WINDOW = 4  # sliding windows shorter than the test prompts (write_tokens: 6 positions; logits tests: 20)
# Llama-3's rope scaling, with an original context short enough that the scaling changes the frequencies
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8, "rope_theta": 10000.0}
COMMON = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=96, max_position_embeddings=CTX)


def hf_config(family: str):
    import transformers as T

    return {
        "llama": lambda: T.LlamaConfig(**COMMON, num_key_value_heads=2, tie_word_embeddings=False),
        "qwen2": lambda: T.Qwen2Config(**COMMON, num_key_value_heads=2),
        "mistral": lambda: T.MistralConfig(**COMMON, num_key_value_heads=1, sliding_window=None),
        "pythia": lambda: T.GPTNeoXConfig(**COMMON, rotary_pct=0.25, use_parallel_residual=True),
        "gptj": lambda: T.GPTJConfig(vocab_size=VOCAB, n_positions=CTX, n_embd=64, n_layer=2, n_head=4, rotary_dim=8),
        "gpt2": lambda: T.GPT2Config(vocab_size=VOCAB, n_positions=CTX, n_embd=64, n_layer=2, n_head=4),
        "llama3": lambda: T.LlamaConfig(**COMMON, num_key_value_heads=2, rope_parameters=LLAMA3_ROPE),
        "mistral-window": lambda: T.MistralConfig(**COMMON, num_key_value_heads=1, sliding_window=WINDOW),
        "qwen2-window": lambda: T.Qwen2Config(**COMMON, num_key_value_heads=2, use_sliding_window=True, sliding_window=WINDOW, max_window_layers=1),
        "gemma": lambda: T.GemmaConfig(**COMMON, num_key_value_heads=1, head_dim=16, pad_token_id=0, bos_token_id=1, eos_token_id=2),
        "qwen3": lambda: T.Qwen3Config(**COMMON, num_key_value_heads=2, head_dim=24, tie_word_embeddings=False),
        "qwen3-window": lambda: T.Qwen3Config(**COMMON, num_key_value_heads=2, head_dim=24, use_sliding_window=True, sliding_window=WINDOW, max_window_layers=1),
        "phi3": lambda: T.Phi3Config(**COMMON, num_key_value_heads=2, partial_rotary_factor=0.5, sliding_window=WINDOW + 1, pad_token_id=None, bos_token_id=None, eos_token_id=None),
        "gemma2": lambda: T.Gemma2Config(**COMMON, num_key_value_heads=2, head_dim=16),
        "gemma2-dynamic": lambda: T.Gemma2Config(**COMMON, num_key_value_heads=2, head_dim=16, rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}),
        "opt": lambda: T.OPTConfig(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, ffn_dim=96, num_attention_heads=4, max_position_embeddings=CTX),
    }[family]()


def write_checkpoint(directory: Path, family: str, seed: int = 0, scale: float = 12.0):
    """A random model of `family`, weights scaled up (and norms and biases perturbed) so that edges
    matter and a conversion slip shows; returns the Hugging Face model (float32, eval)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    hf = AutoModelForCausalLM.from_config(hf_config(family)).eval()
    with torch.no_grad():
        for name, p in hf.named_parameters():
            if p.ndim == 1:  # norms and biases
                p.add_(torch.randn_like(p) * 0.2)
            else:
                p.mul_(scale if "emb" not in name and "wte" not in name else 1.0)
    hf.save_pretrained(directory)
    return hf


def write_tokens(directory: Path, seed: int = 1, batch: int = 4, pos: int = 6) -> Path:
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, VOCAB, (batch, pos), generator=g)
    corrupted = torch.randint(0, VOCAB, (batch, pos), generator=g)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save({"clean": clean, "corrupted": corrupted}, directory / "tokens.pt")
    return directory
