"""The data layer: ESC-50 metadata and presence (`esc50`), evaluation folds (`protocol`), the safe download
(`download`) and the shipped sample (`sample`). Imports nothing from `soundlab.models` or `soundlab.asr`."""
