# The project's Jupyter settings: `make lab` puts this folder on JUPYTER_CONFIG_PATH
# (your own ~/.jupyter settings still apply, and win where they set the same thing).
from analysis.report.lab import pre_save_hook

c = get_config()  # noqa: F821 - provided by Jupyter when it loads this file
# notebooks/*.ipynb are saved without outputs (tests check git's version; issue 24)
c.ContentsManager.pre_save_hook = pre_save_hook
# nothing fetched from the internet: no news feed, no update check
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
