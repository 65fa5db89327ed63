"""Sanctions screening: customers against OFAC's lists (and OpenSanctions' FollowTheMoney data).

- ``lists``: parse the published files into one versioned list; store and load it in S3.
- ``names``: normalisation (scripts, diacritics, name order, legal suffixes, particles and their stems,
  the romanisation systems' respellings, transliteration keys).
- ``similarity``: how alike two tokens are, and the policy (weights, penalties, threshold) that tunes the score.
- ``matcher``: the name score, the token index that blocks candidates, and the exhaustive scorer
  the blocked matcher must agree with on every input.
- ``bulk``: the nightly job over a customer file (Spark, one task per chunk), matches and a run summary.
- ``alerts``: one alert per match, to the alerts queue and a signed webhook, as matches are found.
- ``api``: the real-time path (1–100 names per request) for Lambda and ``paybatch screen serve``.
- ``synthetic``: a generated list in OFAC's formats, name variants and realistic negatives (tests, bench).
"""
