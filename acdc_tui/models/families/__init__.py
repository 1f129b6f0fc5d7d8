"""One file per family, named as its wiring file in acdc_tui/core/architecture/: `convert(hf, cfg)`
turns the loaded Hugging Face model into our transformer's state dict and rotary table. The registry
(acdc_tui/models/convert.py) is built from these files."""
