"""Jobs: the queue table, the runner the worker and the console drain, email delivery."""
