import gc

from marketplace import create_app

app = create_app()

# What is built so far (modules, the app, its routes and schemas) lives as long as the worker. Moved out of the
# collector's reach, it is not walked again by every full collection, which would otherwise cost a request that
# happens to trigger one ~100 ms (a trial balance of a province's 10,000 accounts allocates enough to).
gc.freeze()
