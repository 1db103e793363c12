"""Fill the feature cache before training: `python scripts/extract_features.py [--config configs/x.yaml] [...]`.

Takes train.py's options, so training then finds every video's features cached, the training videos'
under each of --data.cache_views. Resumable (cached videos are skipped; a newly listed view embeds only
that view); with torchrun each process embeds its share. Exit 3 when some videos could not
be read (each is named); see pipeline/errors.py for the other statuses.
"""
from pipeline.errors import run_script
from pipeline.training.extract import main

if __name__ == "__main__":
    run_script(main)
