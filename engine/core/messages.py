"""Message catalogue of the engine: French first, English available.

Codes are stable; parameters are filled with ``str.format``. An unknown code renders as
itself so that a missing entry is visible instead of crashing a check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.core.wording import FOREIGN, Size, french

CATALOGUE: dict[str, tuple[str, str]] = {
    # service refusals, shown to users in their language (EngineError.message_in)
    "svc.user_or_territory_unknown": (
        "utilisateur ou territoire inconnu",
        "unknown user or territory"),
    "svc.organisation_unknown": (
        "organisation inconnue dans ce territoire",
        "unknown organisation in this territory"),
    "svc.user_not_found": ("utilisateur introuvable", "user not found"),
    "svc.part_unknown": (
        "partie inconnue « {part} » (parties du territoire : {parts})",
        "unknown part '{part}' (the territory's parts: {parts})"),
    "svc.party_organisation_elsewhere": (
        "cette organisation n'est pas une organisation de ce territoire",
        "this organisation is not one of this territory"),
    "svc.party_organisation_inactive": (
        "cette organisation est désactivée",
        "this organisation is deactivated"),
    "svc.party_unchanged": (
        "cette organisation tient déjà cette partie du dossier",
        "this organisation already plays this part in the case"),
    "svc.party_not_set": (
        "aucune organisation ne tient cette partie du dossier",
        "no organisation plays this part in the case"),
    "svc.referent_not_eligible": (
        "cette personne n'est pas référent·e de parcours dans ce territoire",
        "this person is not a pathway referent in this territory"),
    "svc.referent_unchanged": (
        "cette personne est déjà le ou la référent·e du dossier",
        "this person is already the case's referent"),
    "svc.referent_none": (
        "ce dossier n'a pas de référent·e",
        "this case has no referent"),
    "svc.days_out_of_range": (
        "nombre de jours hors limites (de 0 à {maximum})",
        "number of days out of range (0 to {maximum})"),
    "svc.last_admin": (
        "c'est le dernier administrateur actif de son territoire",
        "this is the last active administrator of the territory"),
    "svc.role_not_found": ("rôle introuvable", "role not found"),
    "svc.admins_only": ("réservé aux administrateurs", "administrators only"),
    "svc.territory_out_of_scope": (
        "territoire hors de votre périmètre",
        "territory outside your scope"),
    "svc.user_unknown": ("utilisateur inconnu", "unknown user"),
    "svc.notice_mode_unknown": (
        "choix inconnu pour être prévenu·e des nouvelles étapes",
        "unknown choice for hearing of new steps"),
    "svc.not_found": ("introuvable", "not found"),
    "svc.coordination_only": (
        "réservé à la coordination du territoire",
        "reserved to the territory's coordination"),
    "svc.system_only": (
        "réservé aux outils d'exploitation (ligne de commande)",
        "reserved to the operations tools (command line)"),
    "svc.version_not_found": ("version introuvable", "version not found"),
    "svc.case_not_found": ("dossier introuvable", "case not found"),
    "svc.case_anonymised": (
        "dossier anonymisé : son identité n'est plus conservée, il n'y a rien à corriger",
        "case anonymised: its identity is no longer kept, there is nothing to correct"),
    "svc.case_not_on_other_version": (
        "ce dossier n'est pas en cours sur une autre version",
        "this case is not open on another version"),
    "svc.territory_unknown": ("territoire inconnu", "unknown territory"),
    "svc.case_changed": (
        "le dossier a été modifié entre-temps ; rechargez",
        "the case was changed meanwhile; reload it"),
    "svc.version_unknown": ("version inconnue", "unknown version"),
    "svc.circuit_no_active_version": (
        "circuit sans version active",
        "circuit without an active version"),
    "svc.circuit_unknown": ("circuit inconnu", "unknown circuit"),
    "svc.no_reference_circuit": (
        "pas de circuit de référence pour ce circuit",
        "no reference circuit for this circuit"),
    "svc.draft_unknown": ("brouillon inconnu", "unknown draft"),
    "svc.reference_circuit_unknown": ("circuit de référence inconnu", "unknown reference circuit"),
    "svc.draft_exists": (
        "ce circuit a déjà un brouillon : ouvrez-le ou abandonnez-le d'abord",
        "this circuit already has a draft: open it or discard it first"),
    "svc.draft_saved_meanwhile": (
        "Ce brouillon vient d'être enregistré par quelqu'un d'autre : rechargez la page.",
        "Someone else has just saved this draft: reload the page."),
    "svc.reason_required": ("indiquez un motif", "give a reason"),
    "svc.reason_too_long": (
        "motif trop long ({maximum} caractères au plus)",
        "reason too long (at most {maximum} characters)"),
    "svc.organisation_name_required": (
        "indiquez le nom de l'organisation", "give the organisation's name"),
    "svc.organisation_name_too_long": (
        "nom d'organisation trop long ({maximum} caractères au plus)",
        "organisation name too long (at most {maximum} characters)"),
    "svc.search_too_long": (
        "recherche trop longue ({maximum} caractères au plus)",
        "search too long (at most {maximum} characters)"),
    "svc.filter_too_long": (
        "filtre « {name} » trop long ({maximum} caractères au plus)",
        "filter “{name}” too long (at most {maximum} characters)"),
    "svc.unavailable": (
        "la base de données ne répond pas : rien n'a été enregistré. Réessayez dans un instant",
        "the database is not answering: nothing was saved. Try again in a moment"),
    "svc.busy": (
        "trop de demandes en même temps : rien n'a été enregistré. Réessayez dans quelques "
        "secondes",
        "too many requests at once: nothing was saved. Try again in a few seconds"),
    "svc.case_not_open": ("le dossier n'est pas en cours", "the case is not open"),
    "svc.timer_not_found": ("minuterie introuvable", "timer not found"),
    "svc.timer_not_failed": ("cette minuterie n'est pas en échec", "this timer is not in incident"),
    "svc.step_taken": (
        "cette étape est déjà prise en charge par quelqu'un d'autre",
        "someone else has already taken this step"),
    "svc.step_other_role": (
        "cette étape relève d'un autre rôle",
        "this step belongs to another role"),
    "svc.step_other_organisation": (
        "cette étape est confiée à une autre organisation",
        "this step is given to another organisation"),
    "svc.step_waits_for_party": (
        "aucune organisation ne tient encore la partie du dossier à laquelle cette étape "
        "revient : désignez-la d'abord",
        "no organisation holds the part of the case this step goes to yet: name it first"),
    "svc.assignee_other_organisation": (
        "cette personne n'a pas le rôle de l'étape dans l'organisation à laquelle elle revient",
        "this person does not hold the step's role in the organisation it goes to"),
    "svc.only_holder_unclaims": (
        "seule la personne qui la tient peut rendre cette étape",
        "only the person holding this step can give it back"),
    "svc.assignee_lacks_role": (
        "cette personne n'a pas le rôle de l'étape dans ce territoire",
        "this person does not hold the step's role in this territory"),
    "svc.step_not_found": ("étape introuvable", "step not found"),
    "svc.step_done": ("cette étape est déjà terminée", "this step is already completed"),
    "svc.step_held": (
        "cette étape est tenue par quelqu'un d'autre",
        "someone else holds this step"),
    "svc.password_short": (
        "mot de passe trop court ({minimum} caractères au moins)",
        "password too short (at least {minimum} characters)"),
    "svc.sign_in_failed": (
        "adresse e-mail ou mot de passe incorrect",
        "wrong e-mail address or password"),
    "svc.sign_in_locked": (
        "trop de tentatives de connexion : réessayez dans {minutes} minutes",
        "too many sign-in attempts: try again in {minutes} minutes"),
    "svc.password_wrong": (
        "mot de passe actuel incorrect",
        "the current password is wrong"),
    "svc.password_same": (
        "le nouveau mot de passe doit être différent de l'actuel",
        "the new password must differ from the current one"),
    "svc.account_exists": (
        "un compte existe déjà pour {email}",
        "an account already exists for {email}"),
    "svc.role_unknown": (
        "rôle inconnu dans ce territoire : {role}",
        "unknown role in this territory: {role}"),
    "svc.territory_code_unknown": (
        "territoire {territory} inconnu",
        "unknown territory {territory}"),
    "svc.territory_exists": (
        "le territoire {territory} existe déjà (--update pour recharger ses réglages et "
        "déployer ses circuits modifiés)",
        "territory {territory} already exists (--update to reload its settings and deploy "
        "its changed circuits)"),
    "svc.user_email_unknown": (
        "aucun compte pour {email}",
        "no account for {email}"),
    "svc.prefix_invalid": (
        "préfixe des références invalide : 2 à {maximum} lettres ou chiffres",
        "invalid reference prefix: 2 to {maximum} letters or digits"),
    "svc.organisation_kind_unknown": (
        "type d'organisation inconnu : {kind}",
        "unknown organisation type: {kind}"),
    "svc.organisation_exists": (
        "l'organisation « {name} » existe déjà",
        "organisation “{name}” already exists"),
    "svc.account_out_of_scope": (
        "ce compte appartient aussi à un territoire que vous n'administrez pas",
        "this account also belongs to a territory you do not administer"),
    "svc.account_needs_role": (
        "un compte se crée avec un premier rôle dans un territoire que vous administrez",
        "an account is created with a first role in a territory you administer"),
    "svc.email_invalid": (
        "adresse e-mail invalide : lettres, chiffres ou . _ % + ' - avant le @, puis un "
        "domaine avec un point (254 caractères au plus)",
        "invalid e-mail address: letters, digits or . _ % + ' - before the @, then a domain "
        "with a dot (at most 254 characters)"),
    "svc.name_required": ("indiquez le nom de la personne", "give the person's name"),
    "svc.name_too_long": (
        "nom trop long ({maximum} caractères au plus)",
        "name too long (at most {maximum} characters)"),
    "svc.name_invalid": (
        "le nom contient des caractères de contrôle",
        "the name contains control characters"),
    "svc.move_blocked": (
        "étapes actives supprimées par la nouvelle version : {steps}",
        "active steps removed by the new version: {steps}"),
    "svc.consent_not_allowed": (
        "seuls la coordination, le ou la référent·e du dossier et la structure qui l'a "
        "orienté recueillent ou retirent le consentement",
        "only the coordination, the case's referent and the referring organisation record "
        "or withdraw consent"),
    "svc.consent_part_unknown": (
        "partie inconnue pour le consentement : {part} (parties du territoire : {parts})",
        "unknown part for the consent: {part} (the territory's parts: {parts})"),
    "svc.consent_purpose_unknown": (
        "finalité inconnue (finalités possibles : {purposes})",
        "unknown purpose (possible purposes: {purposes})"),
    "svc.consent_category_unknown": (
        "choisissez au moins une catégorie d'informations connue ({categories})",
        "choose at least one known category of data ({categories})"),
    "svc.consent_basis_unknown": (
        "indiquez comment l'accord a été recueilli (formulaire signé ou accord oral devant "
        "témoin)",
        "say how the consent was given (signed form or oral before a witness)"),
    "svc.consent_witness_required": (
        "un accord oral se recueille devant un témoin : indiquez son nom",
        "an oral consent is given before a witness: give the witness's name"),
    "svc.consent_witness_too_long": (
        "nom du témoin trop long ({maximum} caractères au plus)",
        "witness name too long (at most {maximum} characters)"),
    "svc.consent_until_past": (
        "la date de fin de validité est déjà passée",
        "the end date of validity is already past"),
    "svc.consent_reason_required": (
        "indiquez le motif du retrait",
        "give the reason of the withdrawal"),
    "svc.consent_none_active": (
        "aucun consentement en cours pour cette partie : la page n'était plus à jour",
        "no consent in force for this part: the page was out of date"),
    # XML and files
    "xml.too_big": ("Fichier trop volumineux ({size} ; {limit} au plus).",
                    "File too large ({size}; {limit} at most)."),
    "xml.encoding": (
        "Ce fichier n'est pas en UTF-8 (ligne {line}) : enregistrez-le en UTF-8.",
        "This file is not UTF-8 (line {line}): save it as UTF-8."),
    "xml.encoding_declared": (
        "Ce fichier se déclare en {encoding} : seul l'UTF-8 est accepté ; enregistrez-le en "
        "UTF-8.",
        "This file declares itself as {encoding}: only UTF-8 is accepted; save it as UTF-8."),
    "xml.empty": ("Fichier vide.", "Empty file."),
    "xml.syntax": ("XML mal formé : {detail}", "Malformed XML: {detail}"),
    "xml.doctype": ("Les déclarations DOCTYPE et les entités sont refusées (risque XXE).",
                    "DOCTYPE declarations and entities are refused (XXE risk)."),
    "xml.not_bpmn": ("Ce fichier n'est pas un diagramme BPMN 2.0 (élément racine {root}).",
                     "This file is not a BPMN 2.0 diagram (root element {root})."),
    "xml.xsd": ("Non conforme au schéma BPMN : {detail}", "Not valid against the BPMN schema: {detail}"),
    "file.missing": ("Fichier introuvable : {name}.", "File not found: {name}."),
    "file.bad_json": ("Fichier JSON illisible : {reason}.", "Unreadable JSON file: {reason}."),
    "file.unsafe_name": ("Nom de fichier refusé : {name}.", "File name refused: {name}."),
    # territory file
    "territory.missing": (
        "Ce dossier n'a pas de fichier territory.json (code, nom et rôles du territoire).",
        "This folder has no territory.json file (the territory's code, name and roles)."),
    "territory.invalid": ("Fichier de territoire invalide : {detail}", "Invalid territory file: {detail}"),
    "territory.process_missing": (
        "Le circuit « {circuit} » désigne le processus {process}, absent de {file}.",
        "Circuit '{circuit}' names process {process}, which is not in {file}."),
    # BPMN structure
    "bpmn.engine": ("Le moteur refuse cet élément : {detail}", "The engine refuses this element: {detail}"),
    "bpmn.no_start": ("Aucun événement de début dans ce processus.", "This process has no start event."),
    "bpmn.multiple_outgoing": (
        "Une tâche ne peut avoir qu'un flux sortant : ajoutez une passerelle.",
        "A task may have only one outgoing flow: add a gateway."),
    "bpmn.flow_without_condition": (
        "Flux sortant d'une passerelle sans condition et qui n'est pas le flux par défaut.",
        "Gateway outgoing flow without a condition that is not the default flow."),
    "bpmn.dangling_flow": ("Un flux de séquence pointe vers un élément inexistant.",
                           "A sequence flow points to an element that does not exist."),
    "bpmn.no_process": ("Aucun processus exécutable dans ce fichier.",
                        "No executable process in this file."),
    "bpmn.process_no_id": ("Processus sans identifiant (attribut id).",
                           "Process without an id attribute."),
    "bpmn.not_executable": (
        "Processus marqué non exécutable : cochez « exécutable » (isExecutable=\"true\").",
        "Process marked as not executable: set isExecutable=\"true\"."),
    "bpmn.duplicate_process": ("Identifiant de processus en double : {process}.",
                               "Duplicate process id: {process}."),
    "bpmn.duplicate_id": ("Identifiant d'élément en double : {id}.", "Duplicate element id: {id}."),
    "bpmn.missing_id": ("Élément {tag} sans identifiant.", "Element {tag} without an id."),
    "bpmn.unsupported": ("Élément non pris en charge par Aiguillage : {what}.",
                         "Element not supported by Aiguillage: {what}."),
    "bpmn.script": ("Script interdit ({what}) : les circuits ne contiennent pas de code.",
                    "Script refused ({what}): circuits contain no code."),
    "bpmn.multiple_start": (
        "Un processus ne peut avoir qu'un événement de début ; distinguez les entrées par un "
        "champ du formulaire de saisine.",
        "A process may have only one start event; tell entries apart with a start-form field."),
    "bpmn.timer_start": (
        "Un événement de début temporisé sert à planifier les séances de la commission : son "
        "minuteur doit être un cycle borné (timeCycle, par exemple "
        "\"R12/2027-01-05T14:00:00+01:00/P1M\").",
        "A timer start event plans the commission's sessions: its timer must be a bounded "
        "cycle (timeCycle, for example \"R12/2027-01-05T14:00:00+01:00/P1M\")."),
    # message events (issue #18, item 4)
    "bpmn.message_start": (
        "Un dossier s'ouvre par sa saisine, pas par un message : remplacez l'événement de "
        "début de message par un événement de début simple (le message peut être attendu "
        "ensuite, par un événement intermédiaire).",
        "A case opens with its referral, not a message: use a plain start event (the message "
        "can be awaited afterwards by an intermediate event)."),
    "bpmn.message_throw": (
        "Aiguillage n'envoie pas de message : un message ne peut être qu'attendu (événement "
        "intermédiaire de réception, événement attaché à une étape, tâche de réception) ; "
        "pour prévenir quelqu'un, utilisez la propriété « notify ».",
        "Aiguillage sends no message: a message can only be awaited (intermediate catch "
        "event, boundary event, receive task); to tell someone, use the « notify » property."),
    "bpmn.message_undeclared": (
        "Message attendu non déclaré (« {ref} ») : choisissez un message (bpmn:message) "
        "déclaré dans le fichier, avec un nom.",
        "Awaited message not declared ('{ref}'): pick a message (bpmn:message) declared in "
        "the file, with a name."),
    "bpmn.message_name": (
        "Nom de message « {value} » (message {ref}) invalide : une lettre puis des lettres "
        "sans accent, chiffres, « _ », « - » ou « . » (80 au plus), par exemple "
        "« reponse_siao » ; ce nom fait partie de l'adresse où le message est reçu.",
        "Invalid message name '{value}' (message {ref}): a letter then unaccented letters, "
        "digits, '_', '-' or '.' (80 at most), for example 'reponse_siao'; the name is part of "
        "the address the message is received at."),
    "bpmn.message_from": (
        "Expéditeur du message inconnu « {value} » (propriété « from ») : rôles du "
        "territoire : {roles}.",
        "Unknown message sender '{value}' (property 'from'): the territory's roles: {roles}."),
    "svc.message_sender": (
        "Vous ne pouvez pas enregistrer cette réponse : elle vient d'un autre partenaire "
        "(la coordination peut la saisir à sa place).",
        "You may not record this answer: it comes from another partner (the coordination "
        "may enter it instead)."),
    "svc.message_payload": ("Le contenu du message doit être un objet JSON (des champs et "
                            "leurs valeurs).",
                            "The message's content must be a JSON object (fields and their "
                            "values)."),
    "svc.message_nul": ("Caractère nul (\\0) refusé dans ce champ.",
                        "Null character (\\0) refused in this field."),
    "svc.message_not_awaited": (
        "Ce dossier n'attend pas le message « {name} » (déjà reçu, pas encore attendu, ou "
        "inconnu de son circuit).",
        "This case is not waiting for the message '{name}' (already received, not awaited "
        "yet, or unknown to its circuit)."),
    "bpmn.timer_start_plan": ("Planification des séances impossible : {reason}",
                              "Sessions cannot be planned: {reason}"),
    "bpmn.multi_instance": ("Les tâches multi-instances ne sont pas prises en charge.",
                            "Multi-instance tasks are not supported."),
    "bpmn.event_subprocess": ("Les sous-processus événementiels ne sont pas pris en charge.",
                              "Event sub-processes are not supported."),
    "bpmn.no_lane": ("Étape sans couloir : placez-la dans le couloir du rôle qui la réalise.",
                     "Step outside any lane: put it in the lane of the role that does it."),
    "bpmn.form_unknown_part": (
        "Le champ « {field} » nomme la partie « {part} », que le territoire ne déclare pas "
        "(parties du territoire : {parts}).",
        "Field '{field}' names the part '{part}', which the territory does not declare "
        "(the territory's parts: {parts})."),
    "bpmn.form_consent_unknown_part": (
        "Le champ « {field} » du formulaire « {form} » recueille le consentement pour la partie "
        "« {part} », que le territoire ne déclare pas (parties du territoire : {parts}).",
        "Field '{field}' of form '{form}' records consent for the part '{part}', which the "
        "territory does not declare (the territory's parts: {parts})."),
    "bpmn.lane_unknown_part": (
        "Le couloir « {lane} » confie ses étapes à la partie « {part} », que le territoire ne "
        "déclare pas (parties du territoire : {parts}).",
        "Lane '{lane}' gives its steps to the part '{part}', which the territory does not "
        "declare (the territory's parts: {parts})."),
    "bpmn.lane_part_conflict": (
        "Le couloir « {lane} » confie ses étapes à la partie « {part} », un autre couloir du "
        "même nom à « {other} » : donnez-leur la même partie.",
        "Lane '{lane}' gives its steps to the part '{part}', another lane of the same name to "
        "'{other}': give them the same part."),
    "bpmn.unknown_lane": (
        "Couloir « {lane} » inconnu : les rôles du territoire sont {roles}.",
        "Unknown lane '{lane}': the territory's roles are {roles}."),
    "bpmn.no_default": (
        "Passerelle exclusive sans flux par défaut : choisissez le chemin pris quand aucune "
        "condition n'est vraie.",
        "Exclusive gateway without a default flow: choose the path taken when no condition holds."),
    "bpmn.condition": ("Condition refusée « {expression} » : {reason}",
                       "Condition refused '{expression}': {reason}"),
    "bpmn.condition_name": (
        "La condition « {expression} » lit {name}, qu'aucun formulaire du circuit ne remplit.",
        "Condition '{expression}' reads {name}, which no form of the circuit fills."),
    "bpmn.timer": ("Minuterie refusée « {expression} » : {reason}",
                   "Timer refused '{expression}': {reason}"),
    "bpmn.timer_unquoted": (
        "Valeur de minuterie « {expression} » à écrire entre guillemets : \"{expression}\".",
        "Timer value '{expression}' must be quoted: \"{expression}\"."),
    "bpmn.notify": ("Destinataire de notification inconnu « {value} ».",
                    "Unknown notification recipient '{value}'."),
    "bpmn.form_missing": ("Formulaire introuvable : {name}.", "Form file not found: {name}."),
    "bpmn.form_invalid": ("Formulaire {name} invalide : {reason}", "Invalid form {name}: {reason}"),
    "bpmn.no_form": ("Étape sans formulaire : la personne ne pourra que la valider.",
                     "Step without a form: the person can only mark it done."),
    "bpmn.call_unresolved": (
        "L'activité appelle le processus « {process} », introuvable dans le dossier du circuit.",
        "The call activity calls process '{process}', not found in the circuit's folder."),
    "bpmn.call_cycle": ("Appels circulaires entre processus : {chain}.",
                        "Circular calls between processes: {chain}."),
    "bpmn.loop_unbounded": (
        "Boucle sans limite passant par {elements} : ajoutez une condition sur passages[...] "
        "pour en sortir après un nombre de tours.",
        "Unbounded loop through {elements}: add a condition on passages[...] to leave it after "
        "a number of rounds."),
    "bpmn.missing_flow": ("Référence au flux {flow}, qui n'existe pas.",
                          "Reference to flow {flow}, which does not exist."),
    "bpmn.flow_no_source": ("Flux sans origine (sourceRef) : reliez-le à l'élément d'où il part.",
                            "Flow without a source (sourceRef): connect it to where it starts."),
    "bpmn.flow_no_target": ("Flux sans destination (targetRef) : reliez-le à l'élément où il "
                            "mène.",
                            "Flow without a target (targetRef): connect it to where it leads."),
    "bpmn.flow_other_scope": (
        "Ce flux relie {node}, qui n'est pas au même niveau : un flux ne peut ni entrer dans un "
        "sous-processus ni en sortir.",
        "This flow connects {node}, which is not at the same level: a flow may neither enter "
        "nor leave a sub-process."),
    "bpmn.instructions": ("Consignes refusées : {reason}.", "Instructions refused: {reason}."),
    "bpmn.instructions_as_written": (
        "Consignes affichées telles quelles, sans les données du dossier : {reason}.",
        "Instructions shown as written, without the case data: {reason}."),
    "template.too_long": ("consignes trop longues ({detail} caractères au plus)",
                          "instructions too long ({detail} characters at most)"),
    "template.syntax": ("modèle mal écrit (ligne {detail})", "badly written template (line {detail})"),
    "template.too_nested": ("modèle imbriqué trop profondément", "template nested too deeply"),
    "template.macro": ("les macros ne sont pas permises (elles peuvent s'appeler sans fin)",
                       "macros are not allowed (they may call themselves endlessly)"),
    "template.include": ("inclure ou importer un autre modèle n'est pas permis",
                         "including or importing another template is not allowed"),
    "template.power": ("la puissance (**) n'est pas permise", "powers (**) are not allowed"),
    "template.repeat": ("répéter un texte ou une liste avec * n'est pas permis",
                        "repeating a text or a list with * is not allowed"),
    "template.range": ("range() doit avoir des bornes écrites en chiffres, pour {detail} "
                       "éléments au plus",
                       "range() needs bounds written as numbers, for {detail} items at most"),
    "template.loops": ("boucles imbriquées trop coûteuses (plus de {detail} tours en tout ; "
                       "une liste du dossier compte pour 100)",
                       "nested loops too costly (more than {detail} rounds in all; a list of "
                       "the case counts as 100)"),
    "template.recursive": ("les boucles récursives ne sont pas permises",
                           "recursive loops are not allowed"),
    "bpmn.too_many_nodes": (
        "Circuit trop grand : {count} éléments dans ce processus, {limit} au plus. Découpez-le "
        "en sous-circuits (activités d'appel).",
        "Circuit too large: {count} elements in this process, {limit} at most. Split it into "
        "sub-circuits (call activities)."),
    "bpmn.too_deep": (
        "Circuit trop long à analyser : découpez-le en sous-circuits (activités d'appel).",
        "Circuit too long to analyse: split it into sub-circuits (call activities)."),
    "bpmn.unreachable": ("Élément sans flux entrant : il ne sera jamais atteint.",
                         "Element without an incoming flow: it can never be reached."),
    "bpmn.dead_end": ("Élément sans flux sortant : ajoutez un événement de fin après lui.",
                      "Element without an outgoing flow: add an end event after it."),
    "bpmn.no_end": ("Ce processus n'a pas d'événement de fin.", "This process has no end event."),
    "bpmn.no_documentation": (
        "Étape sans consignes (documentation) pour la personne qui la réalise.",
        "Step without instructions (documentation) for the person doing it."),
    # expressions
    "expr.empty": ("expression vide", "empty expression"),
    "expr.too_long": ("expression trop longue ({detail} caractères, 500 au plus)",
                      "expression too long ({detail} characters, at most 500)"),
    "expr.syntax": ("syntaxe invalide ({detail})", "invalid syntax ({detail})"),
    "expr.node": ("construction interdite ({detail})", "construct not allowed ({detail})"),
    "expr.private_name": ("nom interdit {detail}", "name not allowed {detail}"),
    "expr.big_number": ("nombre trop grand ({detail})", "number too large ({detail})"),
    "expr.call": ("appel de fonction interdit ({detail}) ; permises : len, min, max, abs, int, "
                  "str, bool", "function call not allowed ({detail}); allowed: len, min, max, "
                  "abs, int, str, bool"),
    "expr.unknown_name": ("variable inconnue {detail}", "unknown variable {detail}"),
    "expr.repetition": ("répétition de texte ou de liste interdite", "sequence repetition refused"),
    "expr.zero_division": ("division par zéro", "division by zero"),
    "expr.type": ("types incompatibles ({detail})", "incompatible types ({detail})"),
    "expr.index": ("index absent {detail}", "missing index {detail}"),
    "expr.too_big": ("résultat trop grand", "result too large"),
    # timers
    "timer.bad_duration": ("durée ISO-8601 invalide (exemples : P15D, PT48H, P2W)",
                           "invalid ISO-8601 duration (examples: P15D, PT48H, P2W)"),
    "timer.weeks_mixed": ("les semaines (W) ne se combinent pas avec années, mois ou jours",
                          "weeks (W) cannot be combined with years, months or days"),
    "timer.too_long": ("durée supérieure à dix ans", "duration longer than ten years"),
    "timer.zero": ("durée nulle", "zero duration"),
    "timer.bad_date": ("date ISO-8601 invalide", "invalid ISO-8601 date"),
    "timer.naive_date": ("date sans fuseau : ajoutez Z ou +01:00",
                         "date without offset: add Z or +01:00"),
    "timer.bad_cycle": ("cycle ISO-8601 invalide (exemple : R3/P1M)",
                        "invalid ISO-8601 cycle (example: R3/P1M)"),
    "timer.expected_duration": ("une durée est attendue ici (exemple : P15D)",
                                "a duration is expected here (example: P15D)"),
    "timer.expected_date": ("une date est attendue ici", "a date is expected here"),
    "timer.expected_cycle": ("un cycle est attendu ici (exemple : R3/P1M)",
                             "a cycle is expected here (example: R3/P1M)"),
    "timer.not_text": ("la valeur n'est pas un texte", "the value is not text"),
    "timer.empty": ("valeur de minuterie vide", "empty timer value"),
    "timer.not_literal": ("écrivez une valeur ISO entre guillemets ou un nom de champ",
                          "write a quoted ISO value or a field name"),
    # forms
    "json.too_big": ("données trop volumineuses ({detail} Ko au plus)",
                     "data too large ({detail} KB at most)"),
    "json.encoding": ("texte qui n'est pas en UTF-8 (ligne {detail}) : enregistrez-le en UTF-8",
                      "text that is not UTF-8 (line {detail}): save it as UTF-8"),
    "json.too_deep": ("données imbriquées trop profondément (plus de {detail} niveaux)",
                      "data nested too deeply (more than {detail} levels)"),
    "json.syntax": ("JSON mal formé (ligne {detail})", "malformed JSON (line {detail})"),
    "json.invalid": ("valeur JSON refusée (nombre trop grand, NaN ou caractère invalide)",
                     "JSON value refused (number too large, NaN or invalid character)"),
    "form.bad_json": ("JSON invalide ({detail})", "invalid JSON ({detail})"),
    "form.bad_ui_json": ("schéma d'affichage JSON invalide ({detail})",
                         "invalid UI schema JSON ({detail})"),
    "form.bad_schema": ("JSON Schema invalide ({detail})", "invalid JSON Schema ({detail})"),
    "form.not_object": ("le formulaire doit être un objet avec des propriétés",
                        "the form must be an object with properties"),
    "form.too_many_fields": ("trop de champs ({detail})", "too many fields ({detail})"),
    "form.bad_field": ("champ mal décrit ({detail})", "badly described field ({detail})"),
    "form.unsupported_array": ("liste sans choix proposés ({detail})",
                               "list without choices ({detail})"),
    "form.unsupported_type": ("type de champ non pris en charge ({detail})",
                              "unsupported field type ({detail})"),
    "form.bad_choice": ("choix sans valeur const ({detail})", "choice without const ({detail})"),
    "form.bad_constraint": ("contrainte invalide ({detail})", "invalid constraint ({detail})"),
    "form.not_json": ("Les données ne sont pas du JSON simple.", "The data is not plain JSON."),
    "form.required": ("Ce champ est obligatoire.", "This field is required."),
    "form.unknown_field": ("Ce champ n'existe pas dans le formulaire.",
                           "This field is not part of the form."),
    "form.type": ("Valeur attendue : {type}.", "Expected value: {type}."),
    "form.type.string": ("texte", "text"),
    "form.type.text": ("texte", "text"),
    "form.type.textarea": ("texte", "text"),
    "form.type.integer": ("nombre entier", "whole number"),
    "form.type.number": ("nombre", "number"),
    "form.type.boolean": ("oui ou non", "yes or no"),
    "form.type.object": ("groupe de champs", "group of fields"),
    "form.type.group": ("groupe de champs", "group of fields"),
    "form.type.array": ("liste de choix", "list of choices"),
    "form.type.multichoice": ("liste de choix", "list of choices"),
    "form.type.choice": ("une des valeurs proposées", "one of the proposed values"),
    "form.type.date": ("date (AAAA-MM-JJ)", "date (YYYY-MM-DD)"),
    "form.type.null": ("vide", "empty"),
    "form.choice": ("Choisissez une des valeurs proposées.", "Choose one of the proposed values."),
    "form.minimum": ("La valeur doit être au moins {limit}.", "The value must be at least {limit}."),
    "form.maximum": ("La valeur doit être au plus {limit}.", "The value must be at most {limit}."),
    "form.min_length": ("Au moins {limit} caractères.", "At least {limit} characters."),
    "form.max_length": ("Au plus {limit} caractères.", "At most {limit} characters."),
    "form.date": ("Date invalide (AAAA-MM-JJ).", "Invalid date (YYYY-MM-DD)."),
    "form.not_before": ("{field} ne peut pas être antérieure à {other} ({day}).",
                        "{field} cannot be earlier than {other} ({day})."),
    "form.not_before_today": ("{field} ne peut pas être dans le passé.",
                              "{field} cannot be in the past."),
    "form.unique": ("Chaque choix ne peut figurer qu'une fois.", "Each choice may appear once."),
    "form.max_items": ("Au plus {limit} éléments.", "At most {limit} items."),
    "form.min_items": ("Au moins {limit} éléments.", "At least {limit} items."),
    "form.pattern": ("Format invalide.", "Invalid format."),
    "form.invalid": ("Valeur invalide.", "Invalid value."),
    # the directory of services (engine/services/directory.py)
    "svc.directory_entry_unknown": (
        "service introuvable dans l'annuaire",
        "service not found in the directory"),
    "svc.directory_not_yours": (
        "seules la coordination et l'organisation qui porte ce service peuvent le modifier",
        "only the coordination and the organisation running this service may change it"),
    "svc.directory_measure_unknown": (
        "type de mesure inconnu", "unknown kind of measure"),
    "svc.directory_domain_unknown": (
        "domaine de besoin inconnu", "unknown need domain"),
    "svc.directory_entry_invalid": (
        "le service n'a pas été enregistré : {detail}",
        "the service was not saved: {detail}"),
    "svc.directory_import_invalid": (
        "le fichier contient des erreurs ({count}) : rien n'a été enregistré",
        "the file holds errors ({count}): nothing was saved"),
    "svc.directory_import_too_big": (
        "fichier trop volumineux : {maximum} lignes au plus",
        "file too large: at most {maximum} lines"),
    "svc.directory_import_empty": (
        "le fichier ne contient aucune ligne de service",
        "the file holds no service line"),
    "svc.directory_import_columns": (
        "colonnes manquantes : {columns} (la première ligne doit nommer les colonnes "
        "de l'export)",
        "missing columns: {columns} (the first line must name the export's columns)"),
    "svc.directory_import_unreadable": (
        "fichier illisible : un fichier CSV en UTF-8 est attendu",
        "unreadable file: a UTF-8 CSV file is expected"),
    "dir.line": ("ligne {line}, colonne « {column} » : {detail}",
                 "line {line}, column “{column}”: {detail}"),
    "dir.required": ("à renseigner", "required"),
    "dir.too_long": ("{limit} caractères au plus", "at most {limit} characters"),
    "dir.organisation": ("organisation inconnue dans ce territoire",
                         "unknown organisation in this territory"),
    "dir.organisation_not_yours": (
        "vous ne pouvez choisir que votre organisation",
        "you may only choose your own organisation"),
    "dir.measure": ("type de mesure inconnu : « {value} »", "unknown kind of measure: “{value}”"),
    "dir.domain": ("domaine de besoin inconnu : « {value} »", "unknown need domain: “{value}”"),
    "dir.integer": ("nombre entier attendu", "whole number expected"),
    "dir.range": ("nombre entre {minimum} et {maximum} attendu",
                  "number between {minimum} and {maximum} expected"),
    "dir.over_capacity": ("plus de places disponibles que de places au total",
                          "more places available than places in all"),
    "dir.yes_no": ("« oui » ou « non » attendu", "“oui” or “non” expected"),
    "dir.email": ("adresse e-mail invalide", "invalid e-mail address"),
    "dir.phone": ("numéro de téléphone invalide", "invalid phone number"),
    "dir.too_many": ("{limit} au plus", "at most {limit}"),
    "dir.id_unknown": ("aucun service n° {value} dans l'annuaire de ce territoire",
                       "no service no. {value} in this territory's directory"),
    "dir.id_twice": ("le service n° {value} figure sur deux lignes",
                     "service no. {value} is on two lines"),
    "dir.zone": ("seul « commune » est accepté", "only “commune” is accepted"),
    # orientations and their refusal reasons (engine/services/orientations.py, issue #13)
    "svc.orientation_move": (
        "cette orientation est « {before} » : elle ne peut pas devenir « {after} »",
        "this orientation is “{before}”: it cannot become “{after}”"),
    "svc.orientation_unknown": ("orientation introuvable", "orientation not found"),
    "svc.reason_unknown": ("motif de refus introuvable", "refusal reason not found"),
    "svc.reason_label_required": ("indiquez l'intitulé du motif",
                                  "give the reason's wording"),
    "svc.reason_label_too_long": ("intitulé trop long ({maximum} caractères au plus)",
                                  "wording too long ({maximum} characters at most)"),
    "svc.reason_code_invalid": (
        "code invalide : lettres minuscules sans accent, chiffres et « _ », {maximum} "
        "caractères au plus",
        "invalid code: lower-case letters without accents, digits and “_”, {maximum} "
        "characters at most"),
    "svc.reason_code_taken": ("le code « {value} » est déjà celui d'un autre motif",
                              "the code “{value}” is already another reason's"),
    "svc.reason_label_taken": (
        "un motif porte déjà l'intitulé « {value} » (s'il est retiré, proposez-le de nouveau)",
        "a reason already has the wording “{value}” (if it is retired, offer it again)"),
    "orient.not_a_service": ("Choisissez un service de l'annuaire.",
                             "Choose a service of the directory."),
    "orient.service_elsewhere": ("Ce service n'est pas dans l'annuaire de ce territoire.",
                                 "This service is not in this territory's directory."),
    "orient.service_inactive": (
        "Ce service a été retiré de l'annuaire : choisissez-en un autre.",
        "This service has been withdrawn from the directory: choose another one."),
    "orient.organisation_inactive": (
        "L'organisation qui porte ce service est désactivée : choisissez un autre service.",
        "The organisation running this service is deactivated: choose another service."),
    "orient.service_full": (
        "Ce service n'a plus de place disponible : choisissez « liste d'attente » ou un "
        "autre service.",
        "This service has no place left: choose “waiting list” or another service."),
    "orient.no_place": (
        "Plus de place disponible dans ce service : inscrivez la personne en liste "
        "d'attente.",
        "No place left in this service: put the person on the waiting list."),
    "orient.reason_required": ("Indiquez au moins un motif de refus.",
                               "Give at least one refusal reason."),
    "orient.reason_unknown": (
        "Motif de refus inconnu ou retiré : choisissez parmi les motifs proposés.",
        "Unknown or retired refusal reason: choose among the reasons offered."),
    "orient.detail_required": ("Précisez le motif « {label} ».",
                               "Give the details of the reason “{label}”."),
    "orient.move": ("Cette orientation est « {before} » : elle ne peut plus devenir "
                    "« {after} ».",
                    "This orientation is “{before}”: it can no longer become “{after}”."),
    # signed answer links: an orientation answered without an account (issue #13)
    "svc.link_orientation_unknown": ("orientation introuvable", "orientation not found"),
    "svc.link_orientation_closed": (
        "cette orientation n'attend plus de réponse : aucun lien ne peut être envoyé",
        "this orientation no longer awaits an answer: no link can be sent"),
    "svc.link_no_answer_step": (
        "aucune étape de réponse de l'opérateur n'est ouverte sur ce dossier : le lien ne "
        "peut pas être envoyé maintenant",
        "no operator's answer step is open on this case: the link cannot be sent now"),
    "svc.link_email_invalid": (
        "adresse e-mail invalide (par exemple : accueil@association.fr)",
        "invalid e-mail address (for example: desk@association.org)"),
    "svc.link_none_live": ("aucun lien en cours pour cette orientation",
                           "no live link for this orientation"),
    "svc.link_unknown": ("ce lien n'est pas valide", "this link is not valid"),
    "svc.link_expired": ("ce lien a expiré", "this link has expired"),
    "svc.link_used": ("une réponse a déjà été donnée avec ce lien",
                      "an answer has already been given with this link"),
    "svc.link_closed": ("cette orientation n'attend plus de réponse",
                        "this orientation no longer awaits an answer"),
    "svc.link_throttled": (
        "trop de tentatives avec ce lien : réessayez dans {minutes} minutes",
        "too many attempts with this link: try again in {minutes} minutes"),
    # circuits: a throw event's effect on the case's orientations (issue #13)
    "bpmn.orientation": (
        "Effet sur l'orientation inconnu « {value} » (valeur possible : {known}).",
        "Unknown effect on the orientation '{value}' (possible value: {known})."),
    "bpmn.orientation_where": (
        "L'effet sur l'orientation « {value} » ne se place que sur un jalon (événement "
        "intermédiaire) ou une fin.",
        "The effect on the orientation '{value}' belongs on an intermediate throw event or an "
        "end event only."),
    # households across circuits: likely duplicates, merged or dismissed (issue #13)
    "svc.household_not_found": ("ménage introuvable", "household not found"),
    "svc.identity_field_unknown": (
        "ce champ n'est pas une donnée d'identité du dossier : {detail}",
        "this field is not an identity answer of the case: {detail}"),
    "svc.household_match_not_found": ("doublon probable introuvable",
                                      "likely duplicate not found"),
    "svc.household_match_decided": (
        "ce doublon probable a déjà été traité (fusionné ou écarté) : rien n'a été modifié",
        "this likely duplicate has already been dealt with (merged or dismissed): nothing "
        "was changed"),
    "svc.household_match_changed": (
        "l'un de ces deux ménages vient d'être fusionné avec un autre : rechargez la page",
        "one of these two households has just been merged with another: reload the page"),
    # forms: a required yes/no is answered explicitly (issue #14)
    "form.required_yes_no": ("Répondez oui ou non.", "Answer yes or no."),
    # circuits: a step's deadline, in the modeler panel's words (issue #14, item 6)
    "bpmn.deadline": ("Délai de « {step} » : {reason}", "Deadline of '{step}': {reason}"),
    "bpmn.deadline_both": (
        "« {step} » a deux délais, l'un en jours ouvrés : seul l'autre compte. Choisissez-en un "
        "dans le panneau.",
        "'{step}' has two deadlines, one in working days: only the other one counts. Choose one "
        "in the panel."),
    "deadline.unit": (
        "indiquez un nombre et une unité (jours, jours ouvrés, heures, semaines ou mois)",
        "enter a number and a unit (days, working days, hours, weeks or months)"),
    "deadline.days.number": ("indiquez un nombre de jours", "enter a number of days"),
    "deadline.days.min": ("indiquez au moins 1 jour", "enter at least 1 day"),
    "deadline.days.max": ("3650 jours au plus (dix ans)", "3650 days at most (ten years)"),
    "deadline.working_days.number": ("indiquez un nombre de jours ouvrés",
                                     "enter a number of working days"),
    "deadline.working_days.min": ("indiquez au moins 1 jour ouvré",
                                  "enter at least 1 working day"),
    "deadline.working_days.max": ("365 jours ouvrés au plus", "365 working days at most"),
    "deadline.hours.number": ("indiquez un nombre d'heures", "enter a number of hours"),
    "deadline.hours.min": ("indiquez au moins 1 heure", "enter at least 1 hour"),
    "deadline.hours.max": ("87600 heures au plus (dix ans)", "87600 hours at most (ten years)"),
    "deadline.weeks.number": ("indiquez un nombre de semaines", "enter a number of weeks"),
    "deadline.weeks.min": ("indiquez au moins 1 semaine", "enter at least 1 week"),
    "deadline.weeks.max": ("521 semaines au plus (dix ans)", "521 weeks at most (ten years)"),
    "deadline.months.number": ("indiquez un nombre de mois", "enter a number of months"),
    "deadline.months.min": ("indiquez au moins 1 mois", "enter at least 1 month"),
    "deadline.months.max": ("120 mois au plus (dix ans)", "120 months at most (ten years)"),
    # a step's deadline counted from a date of the case, dueRelative (issue #15, item 1)
    "deadline.relative.format": (
        "« {detail} » n'est pas lisible : écrivez avant (-) ou après (+), un nombre, l'unité "
        "(D jours, WD jours ouvrés, M mois), deux-points et le champ date, par exemple "
        "« -7D:date_audience »",
        "'{detail}' cannot be read: write before (-) or after (+), a number, the unit (D days, "
        "WD working days, M months), a colon and the date field, for example "
        "'-7D:date_audience'"),
    "deadline.relative.field": (
        "aucun formulaire du circuit n'a de champ date « {detail} »",
        "no form of the circuit has a date field '{detail}'"),
    # a step's period rule: a deadline moved out of a period of the territory (issue #15, 1)
    "bpmn.period_format": (
        "Période de « {step} » : « {value} » n'est pas lisible : écrivez la règle, deux-points "
        "et la période du territoire, par exemple « shift:treve_hivernale »",
        "Period of '{step}': '{value}' cannot be read: write the rule, a colon and the "
        "territory's period, for example 'shift:treve_hivernale'"),
    "bpmn.period_no_deadline": (
        "Période de « {step} » : « {value} » ne décale rien, l'étape n'a pas de délai à elle",
        "Period of '{step}': '{value}' shifts nothing, the step has no deadline of its own"),
    "bpmn.period_unknown": (
        "Période de « {step} » : la règle « {value} » nomme la période « {period} » que le "
        "territoire ne définit pas (connues : {known})",
        "Period of '{step}': the rule '{value}' names the period '{period}', which the "
        "territory does not define (known: {known})"),
    "bpmn.period_names_nothing": (
        "Période de « {step} » : la règle « {value} » ne nomme aucune période : écrivez la "
        "période du territoire après les deux-points, par exemple « shift:treve_hivernale »",
        "Period of '{step}': the rule '{value}' names no period: write the territory's "
        "period after the colon, for example 'shift:treve_hivernale'"),
    # a timer counted from a date of the case, timerRelative (issue #15, item 1)
    "bpmn.timer_relative": ("Minuteur « {timer} » : {reason}", "Timer '{timer}': {reason}"),
    "bpmn.timer_relative_own": (
        "Minuteur « {timer} » : compté depuis une date du dossier, sa date est calculée ; "
        "laissez-la vide, ou écrivez un délai de repli (durée) pour le cas où la date n'est "
        "pas renseignée",
        "Timer '{timer}': counted from a date of the case, its date is computed; leave it "
        "empty, or write a fallback delay (a duration) for when the date is not answered"),
    # a deadline « avant » a date that may precede the case's opening (issue #15, item 4)
    "bpmn.deadline_before_opening": (
        "Délai de « {name} » : compté {counted}, une date qu'un formulaire accepte dans le "
        "passé ; le délai serait alors déjà dépassé à l'ouverture du dossier. Pour l'éviter, "
        "refusez une date passée dans ce formulaire (\"x-aiguillage-not-before\": \"today\").",
        "Deadline of '{name}': counted {counted}, a date a form accepts in the past; the "
        "deadline would then be over when the case opens. To avoid it, refuse a past date in "
        "that form (\"x-aiguillage-not-before\": \"today\")."),
    "bpmn.timer_before_opening": (
        "Minuteur « {name} » : compté {counted}, une date qu'un formulaire accepte dans le "
        "passé ; il se déclencherait alors dès l'ouverture du dossier. Pour l'éviter, refusez "
        "une date passée dans ce formulaire (\"x-aiguillage-not-before\": \"today\").",
        "Timer '{name}': counted {counted}, a date a form accepts in the past; it would then "
        "fire as soon as the case opens. To avoid it, refuse a past date in that form "
        "(\"x-aiguillage-not-before\": \"today\")."),
    "deadline.relative.not_date": (
        "le champ « {detail} » n'est pas une date : il faut un champ de format date "
        "(\"format\": \"date\")",
        "the field '{detail}' is not a date: a field of format date is needed "
        "(\"format\": \"date\")"),
    # dates in order in a form, x-aiguillage-not-before (issue #15, item 4)
    "bpmn.form_not_before_unknown": (
        "Formulaire « {form} » : le champ « {field} » ne doit pas précéder la date « {other} », "
        "qu'aucun formulaire du circuit ne demande",
        "Form '{form}': the field '{field}' must not precede the date '{other}', which no form "
        "of the circuit asks for"),
    # the audit log (« Journal »): every action code in words, and its detail (issue #14, 7)
    "audit.answer_link.refused": ("Lien de réponse refusé", "Answer link refused"),
    "audit.answer_link.revoked": ("Lien de réponse annulé", "Answer link revoked"),
    "audit.answer_link.sent": ("Lien de réponse envoyé", "Answer link sent"),
    "audit.answer_link.used": ("Réponse donnée par lien", "Answer given through a link"),
    # the REST API (issue #18, item 1)
    "svc.api_idempotency_key": (
        "clé d'idempotence invalide : de 1 à {maximum} caractères, sans caractère de contrôle",
        "invalid idempotency key: 1 to {maximum} characters, no control character"),
    "svc.api_idempotency_reused": (
        "cette clé d'idempotence a déjà servi pour une autre demande (autre circuit ou autres "
        "réponses) : choisissez-en une nouvelle",
        "this idempotency key was already used for another request (another circuit or other "
        "answers): choose a new one"),
    "audit.api.case_start": ("Dossier ouvert par un logiciel (API)",
                             "Case opened by software (API)"),
    "audit.case.cancel": ("Dossier annulé", "Case cancelled"),
    "audit.case.close": ("Dossier clôturé", "Case closed"),
    "audit.case.message": ("Réponse extérieure enregistrée", "Outside answer recorded"),
    "audit.case.message_refused": ("Réponse extérieure refusée", "Outside answer refused"),
    "audit.case.move": ("Dossier passé à une autre version du circuit",
                        "Case moved to another version of its circuit"),
    "audit.case.party_end": ("Organisation retirée du dossier",
                             "Organisation removed from the case"),
    "audit.case.party_set": ("Organisation désignée sur le dossier",
                             "Organisation named on the case"),
    "audit.case.read": ("Lecture du dossier", "Case read"),
    "audit.case.referent_end": ("Fin du suivi par le·la référent·e",
                                "End of the case referent's follow-up"),
    "audit.case.referent_set": ("Référent·e de parcours nommé·e", "Case referent named"),
    "audit.case.reset": ("Dossier ramené à une étape antérieure",
                         "Case taken back to an earlier step"),
    "audit.case.start": ("Dossier ouvert", "Case opened"),
    "audit.session.close": ("Séance de la commission close", "Commission session closed"),
    "audit.session.decision": ("Décision de la commission enregistrée en séance",
                               "Commission decision recorded in session"),
    "audit.session.files_sent": ("Dossiers de la séance diffusés aux membres",
                                 "Session files sent to the members"),
    "audit.session.join": ("Situation inscrite à l'ordre du jour d'une séance",
                           "Case put on a session's agenda"),
    "audit.session.plan": ("Séance de la commission planifiée", "Commission session planned"),
    "audit.session.read": ("Ordre du jour d'une séance consulté", "Session agenda read"),
    "audit.circuit.activate": ("Version de circuit mise en service",
                               "Circuit version made active"),
    "audit.circuit.deploy": ("Nouvelle version de circuit déployée",
                             "New circuit version deployed"),
    "audit.circuit.draft_discard": ("Brouillon de circuit abandonné",
                                    "Circuit draft discarded"),
    "audit.circuit.draft_open": ("Brouillon de circuit ouvert", "Circuit draft opened"),
    "audit.consent.given": ("Consentement recueilli", "Consent recorded"),
    "audit.consent.refused": ("Action refusée sur le consentement",
                              "Action on the consent refused"),
    "audit.consent.withdrawn": ("Consentement retiré", "Consent withdrawn"),
    "audit.directory.created": ("Service ajouté à l'annuaire",
                                "Service added to the directory"),
    "audit.directory.deactivated": ("Service de l'annuaire désactivé",
                                    "Directory service deactivated"),
    "audit.directory.exported": ("Annuaire exporté", "Directory exported"),
    "audit.directory.imported": ("Annuaire importé", "Directory imported"),
    "audit.directory.places": ("Places disponibles mises à jour",
                               "Available places updated"),
    "audit.directory.reactivated": ("Service de l'annuaire réactivé",
                                    "Directory service reactivated"),
    "audit.directory.refused": ("Action refusée sur l'annuaire",
                                "Action on the directory refused"),
    "audit.directory.updated": ("Service de l'annuaire modifié", "Directory service changed"),
    "audit.household.dismiss": ("Doublon probable écarté", "Likely duplicate dismissed"),
    "audit.household.duplicates_found": ("Doublons probables repérés",
                                         "Likely duplicates found"),
    "audit.household.merge": ("Ménages fusionnés", "Households merged"),
    "audit.household.export": ("Données du ménage exportées (droit d'accès)",
                               "Household's data exported (right of access)"),
    "audit.case.identity_corrected": ("Identité corrigée (droit de rectification)",
                                      "Identity corrected (right to rectification)"),
    "audit.case.anonymised": ("Dossier anonymisé", "Case anonymised"),
    "audit.case.hold_set": ("Dossier gardé au-delà de sa durée de conservation (motif légal)",
                            "Case kept past its retention (legal hold)"),
    "audit.case.hold_lifted": ("Maintien du dossier levé", "Legal hold lifted"),
    "audit.membership.add": ("Rôle ajouté", "Role added"),
    "audit.membership.remove": ("Rôle retiré", "Role removed"),
    "audit.organisation.create": ("Organisation ajoutée", "Organisation added"),
    "audit.orientation.create": ("Orientation envoyée", "Orientation sent"),
    "audit.orientation.move": ("Orientation : nouvel état", "Orientation: new state"),
    "audit.orientation.place_returned": ("Place rendue au service",
                                         "Place given back to the service"),
    "audit.reason.create": ("Motif de refus ajouté", "Refusal reason added"),
    "audit.reason.reactivate": ("Motif de refus remis en service",
                                "Refusal reason reactivated"),
    "audit.reason.refused": ("Action refusée sur les motifs de refus",
                             "Action on the refusal reasons refused"),
    "audit.reason.retire": ("Motif de refus retiré", "Refusal reason retired"),
    "audit.reason.update": ("Motif de refus modifié", "Refusal reason changed"),
    "audit.task.assign": ("Étape confiée", "Step assigned"),
    "audit.task.claim": ("Étape prise en charge", "Step taken"),
    "audit.task.complete": ("Étape terminée", "Step completed"),
    "audit.task.refused": ("Action refusée sur une étape", "Action on a step refused"),
    "audit.task.unclaim": ("Étape plus prise en charge", "Step released"),
    "audit.territory.create": ("Territoire créé", "Territory created"),
    "audit.territory.update": ("Territoire modifié", "Territory changed"),
    "audit.timer.fired": ("Échéance atteinte", "Deadline reached"),
    "audit.timer.incident": ("Minuterie en échec (incident)", "Timer failed (incident)"),
    "audit.timer.retry": ("Minuterie relancée", "Timer retried"),
    # webhooks out (issue #18, item 3)
    "audit.webhook.create": ("Abonnement aux notifications web créé", "Webhook subscription created"),
    "audit.webhook.deactivate": ("Abonnement aux notifications web désactivé",
                                 "Webhook subscription deactivated"),
    "audit.webhook.retry": ("Notification web renvoyée", "Webhook delivery retried"),
    "svc.webhook_not_found": ("abonnement ou envoi introuvable",
                              "subscription or delivery not found"),
    "svc.webhook_organisation_unknown": ("choisissez une organisation active du territoire",
                                         "choose an active organisation of the territory"),
    "svc.webhook_url_invalid": (
        "adresse invalide : une adresse web complète, sans identifiant ni espace, de 500 "
        "caractères au plus", "invalid address: a full web address, without credentials or "
        "spaces, of at most 500 characters"),
    "svc.webhook_url_https": (
        "l'adresse doit commencer par https:// (http seulement vers la machine locale)",
        "the address must start with https:// (http only to the local machine)"),
    "svc.webhook_events_required": ("choisissez au moins un événement parmi ceux proposés",
                                    "choose at least one of the events offered"),
    "svc.webhook_inactive": ("cet abonnement est désactivé", "this subscription is deactivated"),
    "svc.webhook_duplicate": (
        "cette organisation est déjà abonnée à cette adresse : désactivez l'abonnement actif "
        "avant d'en créer un autre", "this organisation already subscribes at this address: "
        "deactivate the active subscription before creating another"),
    "svc.webhook_not_failed": ("cet envoi n'est pas en échec : il a été livré ou sera retenté",
                               "this delivery has not failed: it was delivered or will be "
                               "tried again"),
    "audit.user.activate": ("Compte réactivé", "Account reactivated"),
    "audit.user.create": ("Compte créé", "Account created"),
    "audit.user.deactivate": ("Compte désactivé", "Account deactivated"),
    "audit.user.notice_mode": ("Choix des avis par e-mail modifié",
                               "E-mail notice choice changed"),
    "audit.user.password_change": ("Mot de passe changé", "Password changed"),
    "audit.user.password_reset": ("Nouveau mot de passe provisoire donné",
                                  "New temporary password given"),
    "audit.user.refused": ("Action refusée sur un compte", "Action on an account refused"),
    "audit.user.sign_in_failed": ("Connexion échouée", "Sign-in failed"),
    "audit.user.sign_in_refused": ("Connexion refusée (trop de tentatives)",
                                   "Sign-in refused (too many attempts)"),
    "audit.user.update": ("Compte modifié", "Account changed"),
    "audit.detail_attempt": ("tentative : {action}", "attempt: {action}"),
    "audit.detail_reason": ("motif : {reason}", "reason: {reason}"),
    "audit.detail_repeated": ("{count} autres refus pareils depuis le précédent",
                              "{count} more such refusals since the previous one"),
    "audit.detail_fields": ("champs : {fields}", "fields: {fields}"),
    "audit.detail_version": ("version {number}", "version {number}"),
    "audit.detail_minimal": ("vue réduite (sans consentement)",
                             "reduced view (no consent)"),
    "audit.detail_link": ("par lien de réponse", "through an answer link"),
    "audit.detail_unknown_person": ("personne supprimée", "deleted person"),
    "audit.detail_admin_role": ("Administration", "Administration"),
    # a directory entry's fields in the journal (« Fiche modifiée — champs : … »), as its form
    "audit.detail_directory.organisation_id": ("Organisation qui porte le service",
                                               "Organisation running the service"),
    "audit.detail_directory.measure": ("Type de mesure ou de service",
                                       "Kind of measure or service"),
    "audit.detail_directory.name": ("Nom du service", "Service name"),
    "audit.detail_directory.description": ("Présentation", "Presentation"),
    "audit.detail_directory.domains": ("Domaines de besoin couverts", "Needs covered"),
    "audit.detail_directory.communes": ("Communes ou secteurs desservis",
                                        "Towns or areas served"),
    "audit.detail_directory.public": ("Public accueilli", "People received"),
    "audit.detail_directory.capacity": ("Capacité", "Capacity"),
    "audit.detail_directory.places_available": ("Places disponibles", "Places available"),
    "audit.detail_directory.waiting_list": ("Ménages en liste d'attente",
                                            "Households on the waiting list"),
    "audit.detail_directory.phone": ("Téléphone", "Telephone"),
    "audit.detail_directory.email": ("Adresse e-mail", "E-mail address"),
    "audit.detail_directory.address": ("Adresse", "Address"),
    "audit.detail_directory.hours_walk_in": ("Horaires d'accueil sans rendez-vous",
                                             "Walk-in hours"),
    "audit.detail_directory.hours_appointment": ("Horaires sur rendez-vous",
                                                 "Hours by appointment"),
    "audit.detail_directory.languages": ("Langues parlées, interprétariat",
                                         "Languages spoken, interpreting"),
    "audit.detail_directory.charter_signed": ("Charte de la plateforme signée",
                                              "Platform charter signed"),
    "svc.role_choice_invalid": ("choisissez un rôle dans la liste",
                                "choose a role from the list"),
    # statistics (#16)
    "stats.period_reversed": (
        "la période se termine le {end} avant de commencer le {start} : choisissez une date "
        "de fin postérieure à la date de début",
        "the period ends on {end} before it starts on {start}: choose an end date after the "
        "start date"),
    "stats.bad_day": ("date de {name} non comprise : écrivez-la JJ/MM/AAAA, par exemple "
                      "31/12/2026", "{name} date not understood: write it DD/MM/YYYY, for "
                      "example 31/12/2026"),
    "stats.period_too_long": ("période trop longue : {maximum} ans au plus",
                              "period too long: {maximum} years at most"),
    # API keys (issue #18, item 2)
    "svc.api_unauthenticated": (
        "clé d'API absente, inconnue ou révoquée",
        "missing, unknown or revoked API key"),
    "svc.api_scope": (
        "Cette clé d'API ne permet pas cette action (droit « {scope} » manquant)",
        "This API key does not allow this action (missing right '{scope}')"),
    "svc.api_circuit": (
        "Cette clé d'API ne permet pas d'agir sur ce circuit",
        "This API key does not allow acting on this circuit"),
    "svc.api_key_not_found": ("clé d'API introuvable", "API key not found"),
    "svc.api_key_revoked": ("cette clé d'API est déjà révoquée",
                            "this API key is already revoked"),
    "svc.api_key_roles": (
        "choisissez au moins un rôle du territoire (ni administration ni coordination)",
        "choose at least one of the territory's roles (neither administration nor "
        "coordination)"),
    "svc.api_key_scopes": (
        "droits inconnus : choisissez « lecture » ou « lecture et écriture »",
        "unknown rights: choose 'read' or 'read and write'"),
    "svc.api_key_circuit_unknown": (
        "circuit inconnu dans ce territoire",
        "unknown circuit in this territory"),
    "audit.api_key.create": ("Clé d'API créée", "API key created"),
    "audit.api_key.rotate": ("Clé d'API renouvelée", "API key rotated"),
    "audit.api_key.revoke": ("Clé d'API révoquée", "API key revoked"),
    "audit.api_key.refused": ("Clé d'API refusée", "API key refused"),
    "audit.reason.malformed": ("clé mal formée", "malformed key"),
    "audit.reason.unknown": ("clé inconnue", "unknown key"),
    "audit.reason.mismatch": ("secret erroné", "wrong secret"),
    "audit.reason.revoked": ("clé révoquée", "revoked key"),
    "stats.not_overseen": (
        "statistiques réservées à la coordination et à l'administration du territoire",
        "statistics are for the territory's coordination and administration only"),
    # sign-in through an OpenID Connect provider (issue #18, item 5)
    "svc.oidc_state": (
        "la demande de connexion a expiré ou n'a pas été faite depuis ce navigateur : "
        "recommencez depuis la page de connexion",
        "the sign-in request expired or was not made from this browser: start again from "
        "the sign-in page"),
    "svc.oidc_provider_error": (
        "le fournisseur d'identité a refusé ou interrompu la connexion",
        "the identity provider refused or interrupted the sign-in"),
    "svc.oidc_unavailable": (
        "le fournisseur d'identité ne répond pas pour le moment : réessayez dans quelques "
        "minutes",
        "the identity provider does not answer for now: try again in a few minutes"),
    "svc.oidc_signature": (
        "la signature du jeton d'identité n'est pas valide",
        "the ID token's signature is not valid"),
    "svc.oidc_issuer": (
        "le jeton d'identité ne vient pas du fournisseur attendu",
        "the ID token does not come from the expected provider"),
    "svc.oidc_audience": (
        "le jeton d'identité n'est pas destiné à Aiguillage",
        "the ID token is not meant for Aiguillage"),
    "svc.oidc_nonce": (
        "le jeton d'identité ne correspond pas à cette demande de connexion",
        "the ID token does not match this sign-in request"),
    "svc.oidc_expired": ("le jeton d'identité a expiré", "the ID token has expired"),
    "svc.oidc_token_invalid": ("le jeton d'identité n'est pas valide",
                               "the ID token is not valid"),
    "svc.oidc_email_unverified": (
        "le fournisseur d'identité ne garantit pas l'adresse e-mail du compte",
        "the identity provider does not vouch for the account's e-mail address"),
    "svc.oidc_unknown_account": (
        "aucun compte Aiguillage n'est ouvert pour cette adresse e-mail",
        "no Aiguillage account is open for this e-mail address"),
    "svc.oidc_inactive_account": ("ce compte Aiguillage est désactivé",
                                  "this Aiguillage account is deactivated"),
    "svc.oidc_api_account": ("un compte technique d'API ne se connecte pas",
                             "an API technical account does not sign in"),
    "svc.oidc_subject_changed": (
        "ce compte Aiguillage est lié à une autre personne chez le fournisseur d'identité",
        "this Aiguillage account is bound to another person at the identity provider"),
    "audit.user.identity_unlink": ("Identité du fournisseur de connexion déliée",
                                   "Identity provider's identity unlinked"),
    "audit.user.sign_in": ("Connexion", "Sign-in"),
    "audit.user.sign_in_federated": ("Connexion par un fournisseur d'identité",
                                     "Sign-in through an identity provider"),
    "audit.user.sign_in_federated_refused": (
        "Connexion par un fournisseur d'identité refusée",
        "Sign-in through an identity provider refused"),
    "audit.detail_provider": ("via {provider}", "via {provider}"),
}


@dataclass(frozen=True)
class Reason:
    """A message nested in another one's parameters, rendered in the outer one's language."""

    code: str
    detail: str | Reason = ""


def reason(code: str, detail: str | Reason = "") -> Reason:
    """A nested message (for example why a condition or a form was refused)."""
    return Reason(code, detail)


def render(code: str, lang: str, params: Mapping[str, Any]) -> str:
    """The message for ``code`` in ``lang`` with ``params`` filled in (nested ``Reason``s
    rendered in the same language)."""
    params = {k: render(v.code, lang, {"detail": v.detail}) if isinstance(v, Reason) else
              v.in_language(lang) if isinstance(v, Size) else v for k, v in params.items()}
    if lang != "en" and code in FOREIGN and isinstance(params.get("detail"), str):
        params["detail"] = french(code, params["detail"])  # a library's English message
    pair = CATALOGUE.get(code)
    if pair is None:
        return code if not params else f"{code} {dict(params)}"
    template = pair[1] if lang == "en" else pair[0]
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template
