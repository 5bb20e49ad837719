"""Built-in actors: the policies that choose moves (random, engine, ...)."""
