"""Cheap classification of messages that are not questions about the documents.

Greetings and thanks get a short friendly reply without retrieval or the chat model; the task
prompts chat front ends send (a title, tags, follow-up suggestions for the conversation) go to
the chat model as they are, ungrounded. Everything else is a question and is grounded as usual,
so a real question still gets a refusal when the documents do not hold the answer.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Kind = Literal["question", "small_talk", "task"]

SMALL_TALK_MAX_WORDS = 6  # "hi there, how are you today?" is small talk; longer turns are not
_GREETING = (
    r"hi|hello|hey|hiya|howdy|yo|good (?:morning|afternoon|evening)|greetings|"
    r"thanks?(?: you)?(?: (?:so|very) much)?|thank u|thx|ty|cheers|ok(?:ay)?|great|cool|"
    r"bye|goodbye|see you|how are you|how are you doing|who are you|what are you|"
    r"what can you do|help|"
    r"xin chào|chào|chào bạn|chào anh|chào chị|alo|cảm ơn|cám ơn|cảm ơn bạn|cám ơn bạn|"
    r"tạm biệt|bạn là ai|bạn khỏe không|bạn có khỏe không|bạn làm được gì|"
    r"bonjour|salut|merci|hallo|danke|hola|gracias"
)
_SMALL_TALK_RE = re.compile(rf"^(?:(?:{_GREETING})[\s,!.?]*)+(?:there|all|everyone|bot)?[\s!.?]*$")
GREETING_MAX_WORDS = 4
_GREETING_LEAD_RE = re.compile(r"^(?:hi|hello|hey|xin chào|chào)\b")
# The task prompts of Open WebUI, LibreChat, LobeChat and similar front ends.
_TASK_RE = re.compile(
    r"^\s*###\s*task:|"
    r"\b(?:generate|create|write|suggest|give)\b[^.\n]{0,60}\b(?:title|tags|follow[- ]?up "
    r"(?:questions|prompts)|search quer(?:y|ies)|emoji)\b[^.\n]{0,80}\b(?:conversation|chat|"
    r"dialogue|messages?|history)\b|"
    r"<chat_history>",
    re.I | re.M,
)

REPLIES = {
    False: "Hello! I answer questions from the documents in this knowledge base. "
    "Ask me anything about them.",
    True: "Xin chào! Tôi trả lời câu hỏi dựa trên các tài liệu trong cơ sở tri thức này. "
    "Bạn cứ hỏi nhé.",
}
THANKS_REPLIES = {
    False: "You're welcome! Ask me anything else about the documents.",
    True: "Không có gì! Bạn cứ hỏi thêm về tài liệu nhé.",
}
_VI_WORDS_RE = re.compile(r"\b(?:chào|cảm ơn|cám ơn|bạn|tạm biệt|alo)\b")
_THANKS_RE = re.compile(r"\b(?:thank|thanks|thx|ty|cheers|merci|danke|gracias|cảm ơn|cám ơn)\b")


def _plain(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def classify(question: str) -> Kind:
    """Whether a message is small talk, a front end's task prompt, or a question to ground."""
    if _TASK_RE.search(question):
        return "task"
    plain = _plain(question)
    words = len(plain.split())
    if words <= SMALL_TALK_MAX_WORDS and _SMALL_TALK_RE.match(plain):
        return "small_talk"
    if words <= GREETING_MAX_WORDS and "?" not in plain and _GREETING_LEAD_RE.match(plain):
        return "small_talk"  # "Hello from Node.js!"
    return "question"


def small_talk_reply(question: str, vietnamese: bool) -> str:
    """A short friendly reply that says what the service is for."""
    plain = _plain(question)
    table = THANKS_REPLIES if _THANKS_RE.search(plain) else REPLIES
    # "Xin chào" has no letter only Vietnamese uses: its words say the language.
    return table[vietnamese or bool(_VI_WORDS_RE.search(plain))]
