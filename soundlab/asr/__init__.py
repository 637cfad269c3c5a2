"""Speech to text with Whisper: the engines (`engines`), long-form chunking and the transcript (`longform`),
the speech gate (`gate`) and the exports (`subtitles`)."""
