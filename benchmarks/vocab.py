"""Word lists for the synthetic vault: 20 themes, each with its own English and Russian
vocabulary (18 words each, 360 per language), folders and tags, plus common words.

Notes of one theme draw most of their words from that theme, so the vault has real topical
structure for embedding and clustering benchmarks. Some words repeat across themes on
purpose (e.g. attention, фокус), as they would in a real vault.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Theme:
    key: str
    en: tuple[str, ...]
    ru: tuple[str, ...]
    folders: tuple[str, ...]
    tags: tuple[str, ...]


def _theme(key: str, en: str, ru: str, folders: tuple[str, ...], tags: tuple[str, ...]) -> Theme:
    return Theme(key, tuple(en.split()), tuple(ru.split()), folders, tags)


THEMES: tuple[Theme, ...] = (
    _theme(
        "code",
        "python function variable compiler debugger refactoring repository commit branch "
        "merge interpreter module package exception recursion algorithm parser linter",
        "функция переменная компилятор отладчик рефакторинг репозиторий коммит ветка слияние "
        "интерпретатор модуль пакет исключение рекурсия алгоритм парсер сборка тестирование",
        ("Dev/Python", "Разработка"),
        ("code", "программирование"),
    ),
    _theme(
        "cooking",
        "sourdough flour yeast oven dough recipe butter garlic onion simmer skillet broth "
        "pastry seasoning marinade roast dumplings spices",
        "закваска мука дрожжи духовка тесто рецепт масло чеснок лук бульон сковорода выпечка "
        "приправа маринад жаркое пельмени специи борщ",
        ("Кулинария", "Recipes"),
        ("cooking", "кулинария"),
    ),
    _theme(
        "garden",
        "seedling compost tomato mulch greenhouse pruning soil irrigation harvest cucumber "
        "fertilizer orchard weeds raspberry perennial sprouts trellis blossom",
        "рассада компост помидор мульча теплица обрезка почва полив урожай огурец удобрение "
        "сад сорняки малина многолетник ростки грядка цветение",
        ("Сад и огород",),
        ("garden", "дача"),
    ),
    _theme(
        "music",
        "guitar chord melody rhythm tempo harmony scale piano improvisation metronome "
        "fingerstyle bassline recording synthesizer chorus verse mixing acoustic",
        "гитара аккорд мелодия ритм темп гармония гамма фортепиано импровизация метроном "
        "перебор бас запись синтезатор припев куплет сведение акустика",
        ("Music",),
        ("music", "музыка"),
    ),
    _theme(
        "finance",
        "budget savings investment portfolio dividend inflation mortgage interest expenses "
        "income broker bonds diversification taxes pension liquidity index deposit",
        "бюджет сбережения инвестиции портфель дивиденды инфляция ипотека процент расходы "
        "доход брокер облигации диверсификация налоги пенсия ликвидность вклад кэшбэк",
        ("Финансы",),
        ("finance", "деньги"),
    ),
    _theme(
        "travel",
        "itinerary passport luggage hostel airport train border visa backpack mountains "
        "coastline ferry hiking souvenir map museum sunrise village",
        "маршрут паспорт багаж хостел аэропорт поезд граница виза рюкзак горы побережье паром "
        "поход сувенир карта музей рассвет деревня",
        ("Travel/Journal", "Путешествия"),
        ("travel", "путешествия"),
    ),
    _theme(
        "health",
        "sleep workout stretching protein cardio squat posture recovery hydration vitamins "
        "injury marathon endurance metabolism breathing pulse kettlebell fatigue",
        "сон тренировка растяжка белок кардио присед осанка восстановление витамины травма "
        "марафон выносливость метаболизм дыхание пульс гиря усталость разминка",
        ("Здоровье",),
        ("health", "спорт"),
    ),
    _theme(
        "psychology",
        "habit motivation anxiety procrastination mindfulness emotion attention memory "
        "cognition bias therapy resilience boundaries journaling empathy burnout focus ritual",
        "привычка мотивация тревога прокрастинация осознанность эмоция внимание память "
        "мышление искажение терапия устойчивость границы дневник эмпатия выгорание фокус ритуал",
        ("Психология",),
        ("psychology", "психология"),
    ),
    _theme(
        "physics",
        "quantum entropy momentum particle wavelength thermodynamics relativity photon "
        "electron gravity oscillation friction energy field spin magnetism velocity lattice",
        "квант энтропия импульс частица волна термодинамика относительность фотон электрон "
        "гравитация колебание трение энергия поле спин магнетизм скорость решётка",
        ("Science/Physics",),
        ("physics", "физика"),
    ),
    _theme(
        "history",
        "empire dynasty revolution treaty medieval archive chronicle kingdom republic siege "
        "monastery manuscript colony reform tsar parliament crusade artifact",
        "империя династия революция договор средневековье архив летопись княжество республика "
        "осада монастырь рукопись колония реформа царь парламент реликвия крепость",
        ("История",),
        ("history", "история"),
    ),
    _theme(
        "ml",
        "embedding transformer gradient dataset tokenizer attention inference checkpoint "
        "overfitting regularization clustering classifier vector finetuning benchmark "
        "latency prompt loss",
        "эмбеддинг трансформер градиент датасет токенизатор внимание инференс чекпоинт "
        "переобучение регуляризация кластеризация классификатор вектор дообучение метрика "
        "задержка промпт ошибка",
        ("ML", "Нейросети"),
        ("ml", "нейросети"),
    ),
    _theme(
        "photo",
        "aperture shutter exposure lens tripod portrait landscape composition histogram "
        "bokeh sensor filter lightroom contrast grain darkroom focal flash",
        "диафрагма выдержка экспозиция объектив штатив портрет пейзаж композиция гистограмма "
        "боке матрица фильтр контраст зерно проявка фокус вспышка кадр",
        ("Photo",),
        ("photo", "фото"),
    ),
    _theme(
        "family",
        "toddler kindergarten bedtime homework toys tantrum playground vaccination lullaby "
        "siblings pediatrician school allowance routine cartoon nanny diaper drawing",
        "малыш детсад укладывание уроки игрушки истерика площадка прививка колыбельная "
        "братья педиатр школа карманные режим мультик няня подгузник рисование",
        ("Семья",),
        ("family", "дети"),
    ),
    _theme(
        "cars",
        "engine transmission brakes tires clutch mileage diesel battery suspension radiator "
        "oil gearbox ignition coolant exhaust dashboard garage inspection",
        "двигатель коробка тормоза шины сцепление пробег дизель аккумулятор подвеска радиатор "
        "масло зажигание антифриз глушитель приборка гараж техосмотр колодки",
        ("Авто",),
        ("cars", "авто"),
    ),
    _theme(
        "chess",
        "opening endgame gambit checkmate bishop knight rook pawn tournament rating tactics "
        "blitz castling sacrifice puzzle strategy board grandmaster",
        "дебют эндшпиль гамбит мат слон конь ладья пешка турнир рейтинг тактика блиц "
        "рокировка жертва задача стратегия доска гроссмейстер",
        ("Games/Chess",),
        ("chess", "шахматы"),
    ),
    _theme(
        "books",
        "novel chapter narrator protagonist metaphor poetry essay manuscript plot character "
        "irony trilogy quote translation author fiction sonnet library",
        "роман глава рассказчик герой метафора поэзия эссе сюжет персонаж ирония трилогия "
        "цитата перевод автор проза сонет библиотека повесть",
        ("Книги", "Reading notes"),
        ("books", "чтение"),
    ),
    _theme(
        "home",
        "renovation plaster drywall wiring plumbing tiles insulation facade blueprint "
        "foundation ceiling kitchen laminate paint balcony radiator window staircase",
        "ремонт штукатурка гипсокартон проводка сантехника плитка утепление фасад чертёж "
        "фундамент потолок кухня ламинат краска балкон батарея окно лестница",
        ("Дом/Ремонт",),
        ("home", "ремонт"),
    ),
    _theme(
        "space",
        "telescope galaxy nebula eclipse orbit planet comet asteroid constellation supernova "
        "spectrum observatory meteor satellite moon horizon cosmos redshift",
        "телескоп галактика туманность затмение орбита планета комета астероид созвездие "
        "сверхновая спектр обсерватория метеор спутник луна горизонт космос светимость",
        ("Астрономия",),
        ("space", "астрономия"),
    ),
    _theme(
        "work",
        "contract deadline stakeholder roadmap invoice meeting negotiation strategy revenue "
        "hiring onboarding compliance audit milestone client quarter retrospective backlog",
        "контракт дедлайн заказчик роадмап счёт совещание переговоры выручка найм онбординг "
        "аудит этап клиент квартал ретроспектива бэклог договорённость отчёт",
        ("Work/Projects", "Бизнес"),
        ("work", "работа"),
    ),
    _theme(
        "biology",
        "cell protein enzyme mitochondria genome mutation species ecosystem photosynthesis "
        "bacteria evolution habitat predator microscope membrane chromosome fungi biodiversity",
        "клетка белок фермент митохондрия геном мутация вид экосистема фотосинтез бактерия "
        "эволюция среда хищник микроскоп мембрана хромосома грибы биоразнообразие",
        ("Biology",),
        ("biology", "биология"),
    ),
)

COMMON_EN: tuple[str, ...] = tuple(
    """the a of and to in is for with that this on it we about how why when should could
    maybe really also but because then after before note idea question plan first next
    important simple good better new old today tomorrow again still just more less very
    some every each try think remember check compare write read use make find learn need
    want""".split()
)

COMMON_RU: tuple[str, ...] = tuple(
    """и в на с что это как для не но по из к о у же так уже ещё потом надо можно нужно
    очень просто важно идея вопрос план заметка сегодня завтра снова пока всегда иногда
    лучше хуже новый старый первый следующий проверить сравнить записать прочитать
    использовать сделать найти понять учить думать помнить кажется например поэтому потому
    если когда""".split()
)

GENERIC_FOLDERS: tuple[str, ...] = ("Inbox", "Входящие", "Архив", "Заметки", "Clippings")
CHAT_FOLDER = "AI chats"
DAILY_FOLDER = "Daily"
ATTACHMENT_FOLDER = "Attachments"
CANVAS_FOLDER = "Canvas"
# Names that real vaults reuse in many folders.
HUB_NAMES: tuple[str, ...] = ("Index", "README", "Ideas", "Итоги", "Черновик", "TODO")
