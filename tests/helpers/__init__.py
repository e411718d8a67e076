"""Test helpers shared by every folder under tests/.

- `helpers.creds`: the fake cloud and robot credentials, and the FC context's credentials object;
- `helpers.fc`: FC context objects and FC events (timer and HTTP trigger);
- `helpers.env`: the environment every test starts from, and setting variables;
- `helpers.changes`: changes as the rules make them (a failed run, a calm progress change);
- `helpers.chat`: a config file's channel entry, the bodies a `responses` mock received, log lines;
- `helpers.fakes`: OpenSearch, OSS and DingTalk answered in-process through `responses`, and an
  in-memory store.

tests/conftest.py puts tests/ (and handler/, for FC's `index` module) on sys.path, so these import
as `helpers.<module>` from any test folder and from worker processes started with the same path.
"""
