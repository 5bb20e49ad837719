"""Players: the bot SDK and the built-in players that use it."""

from clients.sdk import AuthenticationError, Bot, BotClient, GameView, MoveDecision

__all__ = ["AuthenticationError", "Bot", "BotClient", "GameView", "MoveDecision"]
