"""Choose a training recipe on your own videos: `python scripts/choose_recipe.py --config X --data.root R [...]`.

Grouped k-fold cross-validation of a short list of candidate recipes within `--budget` minutes (feature
caching excluded), then the simplest candidate within noise of the best is trained on all the videos.
Writes `<out>/recipe.yaml` (a config train.py takes), `<out>/best.ckpt` and `<out>/report.md`. Every
option other than the script's own goes to scripts/train.py. A stopped search resumes when started
again with the same options.
"""
from pipeline.errors import run_script
from pipeline.recipes.chooser import main

if __name__ == "__main__":
    run_script(main, lightning_run_info=True)
