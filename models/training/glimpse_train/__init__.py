"""glimpse_train: training and evaluation of glimpse's micro-expression recognition (MER) model."""
CLASSES = ("negative", "positive", "surprise")
DATASETS = ("casme2", "samm", "smic")
