"""Words of the same meaning across our six languages, as one feature ("concept") each.

A bag of words learns "löschen" only from the German mails that say it, and "geler mes
données" from the few French mails that freeze something; people who ask for a right use
the same few ideas in every language (remove, stop, marketing, wrong, consent, again). Each
word below stands for its idea as well as for itself, so what the English mail teaches about
"stop" beside "newsletter" also reaches "arrêtez" beside "catalogue". A concept pair of one
sentence ("c:MARKETING+STOP") lets the linear parts see two ideas together.

An entry is a lower-case word; one ending in ``*`` is a prefix of words. Keep prefixes long
enough not to catch unrelated words in another of the six languages ("gel*" would take German
"Geld", "vend*" French "vendredi"); a word too common to mean anything here ("new", "have",
"old", "plus", "mehr") is better left out than listed. The lexicon is part of the model: after
changing it, rebuild the model with ``mailbot classifier train`` (a test fails until then).
"""

from __future__ import annotations

from functools import lru_cache
from itertools import chain, combinations

CONCEPT = "c:"

_LEXICON: dict[str, str] = {
    "ERASE": """
        delete* deleting erase* erasing remove* removal wipe* purge* forget* destroy* scrub*
        lösch* gelöscht geloescht losch* entfern* vergiss vergessen vernicht* tilg*
        supprim* effac* retirez retirer oubli* détrui* detrui*
        borr* elimin* suprim* olvid* destru*
        cancell* rimuov* rimozion* dimentic* distrugg*
        verwijder* wis wissen wist gewist vergeet vernietig* schrap*
    """,
    "ACCOUNT": """
        account* profile profiles login konto* profil benutzerkonto compte* cuenta* perfil
        profilo registrazion* inschrijving
    """,
    "DATA": """
        data personal information info infos details records
        daten* angaben informationen persönlich* personenbezog*
        données donnees informations renseignements personnel* personnelles
        datos información informacion personales
        dati informazioni personali
        gegevens informatie persoonlijk* persoonsgegevens
    """,
    "KNOW": """
        copy copies know see overview summary confirm confirmation access sar
        kopie auskunft einsicht wissen zeigen übersicht ubersicht erfahren bestätig*
        copie savoir voir connaître connaitre accès acces liste récapitulatif
        copia saber ver acceso lista resumen confirm*
        sapere vedere accesso elenco riepilogo conferm*
        inzage weten zien overzicht inzicht bevestig*
    """,
    "HOLD": """
        hold holding held store* stored storing retain* process*
        gespeichert speicher* aufbewahr* verarbeit* hinterlegt
        conserv* stock* détenez detenez détient gardez garder traitez traitement
        almacen* guard* tenéis teneis tienen tratamiento
        memorizz* conservat* tenete trattament*
        bewaar* opgeslagen opslaan opslag verwerk*
    """,
    "SHARE": """
        share* shared sell* sold passed passing third partners partner disclos* transferred
        weitergegeb* weitergeg* verkauf* dritt* partner*
        partag* vendre vendez vendent vender venden vendu* tiers cédé cede transmis*
        compart* vendid* vendéis terceros cedid*
        condivis* vendut* terzi ceduti
        gedeeld deelt verkocht verkoop* derden doorgegev* doorverkoch*
    """,
    "SOURCE": """
        source obtained herkunft quelle woher bezogen
        provenance origine obtenu* procedencia origen obtenid*
        provenienza ottenut* herkomst bron verkregen
    """,
    "WRONG": """
        wrong incorrect* mistake* error* typo* misspel* misspelt outdated inaccura* spelled spelt
        falsch* fehler* veraltet* unrichtig* vertippt
        erron* faux fausse erreur* mauvais* périmé
        erróne* errone* equivocad* antigua antiguo
        sbagliat* errat* errore vecchi* vecchia inesatt*
        fout* verkeerd* onjuist* verouderd*
    """,
    "CORRECT": """
        correct correcting corrected rectif* update* updating amend*
        korrigier* berichtig* aktualis* änder*
        corrig* rectifi* modifi* actualis*
        correg* corrij* rectific* actualiz* cambi* modific*
        corregg* corrett* rettific* aggiorn* modifica*
        corrigeer* corrigeren aanpass* wijzig* bijwerk* bijgewerkt verbeter*
    """,
    "CONTACT": """
        name surname address email e-mail phone spelling postcode
        nachname anschrift adresse telefon* nummer
        nom prénom prenom courriel téléphone telephone numéro numero
        nombre apellido* dirección direccion correo teléfono telefono número
        nome cognome indirizzo
        naam achternaam adres telefoon*
    """,
    "STOP": """
        stop stopp* cease unsubscribe* halt quit anymore longer opt-out optout
        aufhören aufhoren hört abbestell* abmeld* einstell*
        arrêt* arret* cess* désabonn* desabonn* désinscri* desinscri*
        dejar dejad dejen deje parar paren cesar baja darme
        smett* basta interromp* disiscri* disiscriv*
        stoppen afmeld* uitschrijv* ophouden
    """,
    "MARKETING": """
        marketing newsletter* promotion* promo* offers adverts advert* ads advertising mailing*
        catalogue* catalog* calls called calling texts sms spam cold-call* leaflet* brochure* tracking
        profiling personalised personalized cookies
        werbung werbe* newsletter angebote prospekt* katalog* anrufe* angerufen
        publicit* pub prospection offres démarchage demarchage appels appelé
        publicidad boletín boletin ofertas promocion* catálogo catalogo llamada* llamado
        pubblicit* promozion* offerte chiamat* volantin*
        reclame nieuwsbrie* aanbieding* catalogus gebeld telemarketing folder*
    """,
    "OBJECT": """
        object objecting objection oppose* opt
        widerspr* widerspruch
        oppos* opposition
        opong* oposición oposicion opón
        oppong* opposizion* oppongo
        bezwaar verzet*
    """,
    "USE": """
        use using used process* profiling profila* profilier* profilering analys* analyz* target* personalis*
        nutz* verwend* verarbeit* auswert*
        utilis* traiter traitez exploit*
        usar uséis useis utiliz* tratar tratamiento
        usare usate utilizz* trattare trattamento
        gebruik* verwerk* inzetten
    """,
    "CONSENT": """
        consent* permission agreed agree opt-in opted ticked tick checkbox
        einwillig* zustimm* erlaubnis einverstand* zugestimmt
        consentement autorisation accord autoris* accepté accepte
        consentimiento permiso autoriz* acepté acepte
        consenso permesso autorizz* accettato
        toestemming akkoord ingestemd aangevinkt
    """,
    "WITHDRAW": """
        withdraw* withdrew revok* revoc* retract* rescind*
        widerruf* zurückzieh* zuruckzieh* zurücknehm* zurückgezogen
        retire retirer retirez révoqu* revoqu*
        retirar retiro revocar revoco
        ritir* revocar*
        intrek* trek herroep*
    """,
    "RESTRICT": """
        restrict* limit* freez* froze frozen pause* paus* suspend* block* hold-off
        einschränk* einschrank* sperr* einfrier* eingefroren pausier* beschränk*
        restrein* restreind* limiter limitez geler gelez gèle gelé bloqu*
        restring* congel* bloque*
        limitar limitare sospend* blocc*
        beperk* bevries* bevroren opschort* blokk* pauze*
    """,
    "UNTIL": """
        until till meanwhile pending dispute* disputed
        solange während wahrend zwischenzeit* klär*
        jusqu jusqu'à jusqu'a pendant contest* attendant
        hasta mientras tanto resuelv* aclar*
        finché finche fino intanto chiar*
        totdat zolang intussen opgehelderd uitgezocht
    """,
    "EXPORT": """
        export* download* csv json xml machine-readable transfer* portab*
        provider
        exportier* übertrag* ubertrag* maschinenlesbar* anbieter
        transf* lisible fournisseur prestataire
        legible proveedor
        esport* trasfer* leggibil* fornitore
        exporteer* exporteren overdr* overzett* overstap* leesbaar aanbieder
    """,
    "COMPLAIN": """
        complain* unacceptable disappoint* appall* appalled disgust* shocking shocked careless* breach*
        leak* leaked ico regulator unhappy furious outrageous irresponsib* concerned worrying worried
        beschwer* inakzeptabel enttäusch* enttausch* unverschämt* datenpanne* datenschutzbehörde aufsicht*
        plainte* inacceptable déçu decu scandal* fuite* cnil inquiet* choqué choque
        queja* reclamación reclamacion inaceptable decepcion* vergonz* filtración filtracion aepd preocup*
        reclamo lamentel* inaccettabil* delus* vergogn* garante preoccup*
        klacht* onacceptabel teleurgest* schand* datalek* autoriteit bezorgd
    """,
    "AGAIN": """
        again still reminder remind* chase* chasing follow-up followup second third already heard
        reply response answer acknowledg* yet nothing overdue weeks ago previous earlier
        erneut nochmal nochmals immer erinnerung* mahnung bereits schon antwort* reaktion* wochen vorher
        encore toujours relance* rappel* déjà deja réponse reponse semaines précédent*
        otra todavía todavia sigo recordatorio* ya respuesta* semanas anterior*
        ancora sollecit* già gia risposta* settimane precedent*
        weer opnieuw nog steeds herinner* reactie* antwoord* weken vorige eerder
    """,
    "WROTE": """
        wrote written asked emailed requested sent contacted
        geschrieben gefragt gebeten angefragt geschickt kontaktiert
        écrit ecrit demandé demande envoyé envoye contacté
        escribí escribi pedí pedi solicité solicite envié envie
        scritto chiesto inviato richiesto contattato
        geschreven gevraagd verstuurd gestuurd gemaild
    """,
    "MONTH": """
        january february march april june july august september october november december
        januar februar märz marz juni juli oktober dezember
        janvier février fevrier mars avril mai juin juillet août aout septembre octobre novembre décembre
        enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre
        gennaio febbraio aprile maggio giugno luglio settembre ottobre dicembre
        januari februari maart mei augustus
    """,
    "ORDER": """
        order* parcel* delivery deliver* refund* invoice* price* quote* print* stl model* licen*
        shipping tracking basket cart checkout discount
        bestell* paket* liefer* erstatt* rechnung* preis* angebot* druck* lizenz* versand*
        commande* colis livraison* rembours* facture* prix devis impression* licence* panier
        pedido* paquete* envío envio reembolso* factura* precio* presupuesto* impresión impresion* licencia* carrito
        ordine* pacco consegn* rimborso* fattura* prezzo* preventivo* stampa* licenza* carrello spedizion*
        bestelling* pakket* levering* terugbetal* factuur* prijs* offerte* afdruk* licentie* winkelmand* verzend*
    """,
    "IMAGE": """
        photo* picture* image* scan scans video* review* testimonial* gallery portfolio instagram facebook
        foto* bild* bilder aufnahme* bewertung* galerie
        avis vidéo
        imagen* reseña* galería
        immagin* recension* galleria
        afbeelding* recensie* galerij
    """,
}


def _entries() -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """(exact words, prefixes), each to the concepts it stands for."""
    exact: dict[str, list[str]] = {}
    prefix: dict[str, list[str]] = {}
    for concept, words in _LEXICON.items():
        for entry in words.split():
            table = prefix if entry.endswith("*") else exact
            key = entry.rstrip("*")
            if concept not in table.setdefault(key, []):
                table[key].append(concept)
    return {k: tuple(v) for k, v in exact.items()}, {k: tuple(v) for k, v in prefix.items()}


_EXACT, _PREFIX = _entries()
_PREFIX_LENGTHS = tuple(sorted({len(p) for p in _PREFIX}, reverse=True))
_ELISION = ("'", "’")


@lru_cache(maxsize=1 << 16)
def concepts_of(token: str) -> tuple[str, ...]:
    """The concepts a lower-case token stands for (empty for most words)."""
    for mark in _ELISION:
        if mark in token:
            # "l'envoyer", "dell'account": the word after the elided article.
            head, _, tail = token.rpartition(mark)
            if len(tail) > 2 and len(head) <= 4:
                token = tail
            break
    found = _EXACT.get(token, ())
    for n in _PREFIX_LENGTHS:
        if n <= len(token):
            more = _PREFIX.get(token[:n])
            if more:
                found = found + tuple(c for c in more if c not in found)
                break
    return found


def concept_features(tokens: list[str]) -> list[str]:
    """The concept features of one sentence's tokens: each concept, and each pair of them."""
    found = set(chain.from_iterable(map(concepts_of, tokens)))  # no loop in Python: most words have none
    if not found:
        return []
    names = sorted(found)
    return [CONCEPT + c for c in names] + [CONCEPT + a + "+" + b for a, b in combinations(names, 2)]
