"""Running models: the batches a step sees and how each kind of model is set up for the one trainer loop
(numpyvae.train.Trainer). The trainer, checkpoint and run directory move here when the layout moves."""
