"""socialgov: who may say what, on which account, when — and who can stop it."""
