"""The recipe search (scripts/choose_recipe.py): which training recipe suits the user's own videos,
measured by grouped cross-validation instead of recommended from other data.

    candidates.py  the short list of recipes, as changes to the user's config, in the order of
                   what they are expected to give.
    configs.py     a recipe as train.py reads it: the user's config files and flags as one YAML
                   document, with a candidate's changes.
    head_fit.py    one fold of one candidate: the head trained on cached features in this process.
    search.py      successive halving over the folds, within a time budget; finished trials stored.
    choice.py      the simplest candidate within noise of the best (paired folds).
    report.py      the printed table and report.md.
    chooser.py     all of it in order, then train.py on the chosen recipe (recipe.yaml, best.ckpt).
"""
