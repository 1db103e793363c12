"""Old import path of the demo data, kept only until every importer uses `pipeline.demo`; delete then."""
from pipeline.demo import *  # noqa: F401,F403
from pipeline.demo import __all__  # noqa: F401
