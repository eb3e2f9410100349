"""What the Rasa process loads besides YAML: custom NLU components and input channels.

Rasa imports these by module path (``bot.components.…`` in config.yml, ``bot.channels.…`` in
credentials.yml); ``rasa`` puts the current directory on ``sys.path``, so it must run from the repository
root (scripts/run.sh, scripts/train.sh and tests/e2e/conftest.py do). Runs on Rasa's Python 3.10 in
.venv-rasa: never import our packages (profiles, actions, recommender, api) from here.
"""
