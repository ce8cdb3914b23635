from flask import Blueprint

bp = Blueprint("analytics", __name__)
