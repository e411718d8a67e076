"""The taskwatch benchmark; bench/run.py is its command line (bench/README.md: what each module measures)."""
