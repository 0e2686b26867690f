"""Reports: tables, statistics and figures from finished run folders, and the committed export.

``runs`` collects the finished runs under a results folder (each run's ``config.json`` says what
its method is, so no method is imported); ``stats`` holds the tests, intervals and corrections;
``tables/`` builds each table and renders it; ``figures`` draws the plots; ``export`` writes and
checks a study's committed form (``results/reference/<dataset>/``).
"""
