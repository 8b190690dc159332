"""The words the offline topics method works with: stems, stop words, clauses.

Words are compared by their Snowball stems, Russian or English by the word's own script, so
the forms of a word ("регуляризация", "регуляризации", "регуляризацию") count as one term;
function words and lecture fillers of both languages are stop words. A clause ends at a
comma, a sentence end or a dash between spaces: no phrase spans one.
"""

from __future__ import annotations

import itertools
import re
import threading
from collections import Counter
from functools import lru_cache
from typing import Any

import snowballstemmer

__all__ = [
    "CLAUSE_SPLIT",
    "CYRILLIC",
    "MIN_WORD_CHARS",
    "PREPOSITIONS",
    "SENTENCE_SPLIT",
    "WORD",
    "content_words",
    "governed",
    "is_stop",
    "stem",
]

STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are aren as at be because been
    before being below between both but by can cannot could couldn did didn do does doesn doing
    don down during each else even ever every few for from further get gets getting go goes going
    gonna got had hadn has hasn have haven having he her here hers herself him himself his how
    however i if in into is isn it its itself just know let like ll look lot make many may maybe
    me might more most much must my myself need no nor not now of off okay on once one only or
    other ought our ours ourselves out over own really right said same say says see she should
    shouldn so some something such than that thats the their theirs them themselves then there
    these they thing things think this those though through thus to today too under until up us
    use used using very want was wasn way we well were weren what when where whether which while
    who whom why will with within without won would wouldn yeah yes yet you your yours yourself
    yourselves ve re let's also actually basically kind sort mean going okay two three first
    second next last talk talked talking lets gets let us look looked looking called
    hello hi welcome everyone everybody guys folks morning afternoon evening
    """.split()
)
# Russian function words and lecture fillers, in the forms speech uses them.
STOP_WORDS_RU = frozenset(
    """
    а без более больше бы был была были было быть в вам вами вас весь во вот все всё всего
    всей всем всеми всех всю вся вы где да даже для до его ее её если есть еще ещё же за здесь
    и из или им ими их к как какая какие каким какой каком какую когда кто ли либо меня мне
    мной может можем можете могут мог могла могли мы на над надо наш наша наше наши нам нас
    нами не него нее неё нет ни них но ну о об однако он она они оно от очень по под при про
    раз с сам сама сами само себе себя со так также такая такие таким такой такое там те тем
    теми то того тоже той только том тот ту ты у уже хотя чего чей чем что чтобы чье чья эта
    эти это этого этой этом этому этот эту этим этими я вообще значит просто например сейчас
    потом тут тогда вроде допустим давайте можно нужно нужен нужна нужны будет будем будут
    буду будете являются является являться который которая которые которое которых которой
    котором которым которую которыми этих сегодня теперь итак поговорим поговорить говорить
    говорим говорят говорил сказать скажем скажу рассмотрим рассмотреть посмотрим посмотреть
    смотрите видите видим знаете знаем понимаете хочу хотим хотите хорошо ладно именно
    поэтому потому почему зачем куда откуда где-то что-то кто-то как-то какой-то также
    один одна одно одни одного одной два две три первый первая первое второй вторая третий
    каждый каждая каждое каждого другой другая другие другое других много мало несколько
    пример примеры примере случае случай раза разе почти совсем
    всегда никогда иногда часто снова опять ещё уже лишь между через после перед около
    вокруг против кроме вместо ради среди свой своя свое своё свои своих своим своей своего
    мой моя моё мои твой наш ваш ваша ваше ваши делать делаем сделать
    здравствуйте привет приветствую коллеги друзья
    """.split()
)
WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
CLAUSE_SPLIT = re.compile(r"[,;:.!?…()\[\]\"«»]|\s[-–—]\s")
SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])\s+")
CYRILLIC = re.compile(r"[а-яё]")
MIN_WORD_CHARS = 3
_STEMMERS = threading.local()


def _stemmer(language: str) -> Any:
    # Snowball stemmers keep their word in the object: one per thread and language.
    found = getattr(_STEMMERS, language, None)
    if found is None:
        found = snowballstemmer.stemmer(language)
        setattr(_STEMMERS, language, found)
    return found


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The word's stem by the Snowball rules of its script.

    "регуляризация", "регуляризации" and "регуляризацию" share one stem, as do "network" and
    "networks"; a lecture that mixes Russian and English terms is stemmed word by word.
    """
    if CYRILLIC.search(word):
        return str(_stemmer("russian").stemWord(word.replace("ё", "е")))
    if word.isascii():
        return str(_stemmer("english").stemWord(word))
    return word


def is_stop(word: str) -> bool:
    return word in STOP_WORDS or word in STOP_WORDS_RU or word.replace("ё", "е") in STOP_WORDS_RU


def content_words(text: str) -> list[str | None]:
    """Lower-cased content words; None marks a stop word so word pairs do not bridge it."""
    result: list[str | None] = []
    for clause in CLAUSE_SPLIT.split(text.casefold()):
        for word in WORD.findall(clause):
            if len(word) < MIN_WORD_CHARS or is_stop(word):
                result.append(None)
            else:
                result.append(word)
        # A pair never spans a comma or a sentence end: "растений, хлорофилл" is no phrase.
        result.append(None)
    return result[:-1]


# After these a Russian noun is never in the form a title names it by ("о регуляризации").
PREPOSITIONS = frozenset(
    "в во на о об обо при без для до из от у с со к ко по за под над перед через про между".split()
)


def governed(text: str) -> Counter[str]:
    """Forms said right after a preposition: inflected, so a title avoids them."""
    words = WORD.findall(text.casefold())
    return Counter(b for a, b in itertools.pairwise(words) if a in PREPOSITIONS)
