"""faster-whisper for the ASR steps (step2-transcript-base, step2-transcript-disambiguate), one
module per idea; this package file imports nothing, so a step's source closure holds only the
modules it imports (reelset/closure.py):

- :mod:`reelset.asr.whisper`: the CTranslate2 Whisper model (:func:`~reelset.asr.whisper.load_whisper`,
  on CUDA when present, else the CPU as the step's device policy allows) and the two ways of
  decoding chosen clips: batched (:func:`~reelset.asr.whisper.decode_clips`) and sequential with
  Whisper's temperature fallback (:func:`~reelset.asr.whisper.decode_sequential`).
- :mod:`reelset.asr.windows`: the audio's geometry — Silero VAD regions, the 30 s windows the
  pipeline groups them into (:class:`~reelset.asr.windows.Window`), shorter pieces cut at the
  quietest frame, blocks of a long file.
- :mod:`reelset.asr.decode`: the first pass — faster-whisper's ``BatchedInferencePipeline`` over
  windows of up to 30 s of VAD speech, block by block, with progress lines.
- :mod:`reelset.asr.guards`: whether a decoded window needs a second look (Whisper's checks, loops,
  speech without words) and whether a second decoding is better.
- :mod:`reelset.asr.redecode`: the second look at failing windows and the repair of a loop that
  survives it.
- :mod:`reelset.asr.segments`: the windows' words cut into sentence segments, each checked by the
  hallucination guards (:mod:`reelset.hallucination`), and the speech left without words.
"""
