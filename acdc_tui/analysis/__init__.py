"""Analysis over many runs: threshold sweeps, ROC and AUC, text plots."""
