"""What inference loads: the backbone interface and registry (`backbone`), the backbones (`yamnet`), every custom
Keras layer (`layers`), the classifier heads (`heads`), the networks trained from scratch (`scratch`), and the
per-backbone embedding and feature caches (`embeddings`, `features`). Nothing here trains: see `soundlab.train`."""
