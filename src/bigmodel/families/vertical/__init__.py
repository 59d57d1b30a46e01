"""The vertical family: a general LLM specialised on one industry's knowledge (LLaMA → DoctorGPT),
measured on the domain packs of `bigmodel.data.packs` by `bigmodel.eval.hallucination`."""
